import { linkSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

// Two processes training into one checkpoint folder would overwrite each other's checkpoints (and run.json's
// clock). Each job takes a lock file in the folder first: the supernet pipeline `supernet.lock`, a standalone
// baseline `standalone-<id>.lock` (a baseline may train beside the supernet, as both write disjoint files).
// The file names the process; one left by a process that is gone (SIGKILL, a crash) is taken over.

export class CheckpointLockError extends Error {}

interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

const LOCK_SUFFIX = '.lock';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') {
      return { pid: owner.pid, host: owner.host, startedAt: String(owner.startedAt ?? '?') };
    }
  } catch {
    // Unreadable or half-written: judged as not held below.
  }
  return undefined;
}

// Whether a lock file is held by a live process. A lock from another host cannot be checked, so it counts as
// held (a shared folder across hosts is the case a lock matters most).
function heldBy(path: string): LockOwner | undefined {
  const owner = readOwner(path);
  if (owner === undefined) return undefined;
  if (owner.host !== hostname()) return owner;
  return owner.pid !== process.pid && isAlive(owner.pid) ? owner : undefined;
}

function describe(owner: LockOwner): string {
  return `pid ${owner.pid} on ${owner.host} since ${owner.startedAt}`;
}

// Takes the lock `name` in `dir` (which must exist) until the process exits. Throws CheckpointLockError when a
// live process holds it.
export function acquireCheckpointLock(dir: string, name: string): void {
  const path = join(dir, `${name}${LOCK_SUFFIX}`);
  const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  // Written aside, then linked into place: link fails when the lock exists, and never shows a half-written one.
  const draft = join(dir, `.${name}.${process.pid}${LOCK_SUFFIX}`);
  writeFileSync(draft, JSON.stringify(owner));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = heldBy(path);
      if (holder !== undefined || attempt > 0) {
        throw new CheckpointLockError(
          `checkpoints in ${dir} are in use by ${holder ? describe(holder) : 'another process'} (${name}); wait for it or stop it, or delete ${path} if that process is gone`,
        );
      }
      // Stale: its process is gone. Removed, then one more try (a racing taker wins, and this one fails).
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(draft, { force: true });
  }
  // Released when the process exits, on every path (done, failed, interrupted); a SIGKILL leaves it stale.
  process.once('exit', () => {
    if (readOwner(path)?.pid === process.pid) rmSync(path, { force: true });
  });
}

// Throws CheckpointLockError when any job holds a lock in `dir`: `--fresh` empties the whole folder.
export function assertUnlocked(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const name of names.filter((n) => n.endsWith(LOCK_SUFFIX) && !n.startsWith('.'))) {
    const holder = heldBy(join(dir, name));
    if (holder !== undefined) {
      throw new CheckpointLockError(
        `--fresh would delete checkpoints in ${dir} that ${describe(holder)} is using (${name.slice(0, -LOCK_SUFFIX.length)}); stop it first`,
      );
    }
  }
}
