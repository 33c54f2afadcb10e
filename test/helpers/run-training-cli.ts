import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface TrainingCliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Runs the training CLI (`training/cli.ts`) from the repository root with these arguments and extra environment.
export function runTrainingCli(args: string[], env: Record<string, string> = {}): Promise<TrainingCliRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'training/cli.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
