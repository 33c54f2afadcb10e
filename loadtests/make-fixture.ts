import { spawn } from 'node:child_process';
import { REPO_ROOT } from './spawn-server.ts';

// Publishes a random-weight supernet into `dir` by running scripts/make-fixture-supernet.ts in a child
// process (loadtests import nothing from src) and returns its model root, ready for SUPERNET_URI.
export async function makeFixture(dir: string, shape: 'default' | 'small' = 'default'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/make-fixture-supernet.ts', '--out', dir, '--shape', shape],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const root = out.trim().split('\n').at(-1);
      if (code === 0 && root) resolve(root);
      else reject(new Error(`make-fixture-supernet failed (exit ${code}): ${err.trim().slice(-500)}`));
    });
  });
}
