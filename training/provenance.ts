import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';

// The commit the run was trained from (`-dirty` with uncommitted changes), or 'unknown' outside a repository.
export function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

// The machine a figure was measured on: host name, platform and Node version.
export function hostDescription(): string {
  return `${hostname()} (${process.platform}-${process.arch}, node ${process.version})`;
}
