import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore } from '../src/storage/index.ts';

// Files of the checkpoint folder that are not checkpoints but are mirrored too: the run's clock, the search's
// result, the final report.
const PLAIN_FILE = /^(run\.json|report\.json|search\.[0-9a-f]+\.json|standalone-.*\.json)$/;

// Keeps a copy of a run's checkpoint folder in an object store (S3 on AWS Batch, where a reclaimed spot host
// takes its disk with it), and brings it back on the next attempt. A checkpoint `name` is mirrored as its arrays
// under `name/step-<step>/`, then `name/state.json` naming that step, and only then are older steps removed: an
// upload cut short leaves the previous checkpoint whole.
export class CheckpointMirror {
  readonly store: ObjectStore;
  private readonly localDir: string;
  private readonly onPushError: (error: Error) => void;

  // A failed upload is reported to onPushError and training goes on: the local checkpoint is whole, and the
  // next save uploads again.
  constructor(store: ObjectStore, localDir: string, onPushError: (error: Error) => void) {
    this.store = store;
    this.localDir = localDir;
    this.onPushError = onPushError;
  }

  // Uploads the local checkpoint `name` (just saved) and the run's clock.
  async pushCheckpoint(name: string): Promise<void> {
    await this.upload(name).catch(this.onPushError);
  }

  private async upload(name: string): Promise<void> {
    const folder = join(this.localDir, name);
    const stateText = await readFile(join(folder, 'state.json'));
    const state = JSON.parse(stateText.toString('utf8')) as { step: number; arrays: Array<{ name: string }> };
    const stepPrefix = `${name}/step-${state.step}/`;
    for (const array of state.arrays) {
      await this.store.write(
        `${stepPrefix}${array.name}.f32`,
        createReadStream(join(folder, `${array.name}.f32`)),
      );
    }
    await this.store.write(`${name}/state.json`, new Uint8Array(stateText));
    for (const old of await this.store.list(`${name}/step-`)) {
      if (!old.key.startsWith(stepPrefix)) await this.store.remove(old.key);
    }
    await this.uploadFile('run.json');
  }

  // Uploads one plain file of the folder (run.json, a search result, a report).
  async pushFile(file: string): Promise<void> {
    await this.uploadFile(file).catch(this.onPushError);
  }

  private async uploadFile(file: string): Promise<void> {
    const bytes = await readFile(join(this.localDir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (bytes) await this.store.write(file, new Uint8Array(bytes));
  }

  // Brings back what the mirror has and the local folder lacks: every checkpoint the mirror holds at a later
  // step than the local copy (or that is missing locally), and plain files missing locally. Returns what it
  // restored.
  async restore(): Promise<string[]> {
    await mkdir(this.localDir, { recursive: true });
    const restored: string[] = [];
    for (const info of await this.store.list('')) {
      const key = info.key;
      if (PLAIN_FILE.test(key)) {
        if (!(await exists(join(this.localDir, key)))) {
          await writeFile(join(this.localDir, key), await this.store.read(key));
          restored.push(key);
        }
        continue;
      }
      const match = /^([^/]+)\/state\.json$/.exec(key);
      if (!match) continue;
      const name = match[1]!;
      const stateBytes = await this.store.read(key);
      const state = JSON.parse(new TextDecoder().decode(stateBytes)) as {
        step: number;
        arrays: Array<{ name: string }>;
      };
      if ((await localStep(join(this.localDir, name))) >= state.step) continue;
      const final = join(this.localDir, name);
      const temp = `${final}.restore-${process.pid}`;
      await rm(temp, { recursive: true, force: true });
      await mkdir(temp, { recursive: true });
      for (const array of state.arrays) {
        await writeFile(
          join(temp, `${array.name}.f32`),
          await this.store.read(`${name}/step-${state.step}/${array.name}.f32`),
        );
      }
      await writeFile(join(temp, 'state.json'), stateBytes);
      await rm(final, { recursive: true, force: true });
      await rename(temp, final);
      restored.push(name);
    }
    return restored;
  }

  // Removes everything mirrored (--fresh).
  async clear(): Promise<void> {
    for (const info of await this.store.list('')) await this.store.remove(info.key);
  }
}

// The step of the local checkpoint in `folder`, or -1 when there is none.
async function localStep(folder: string): Promise<number> {
  try {
    return (JSON.parse(await readFile(join(folder, 'state.json'), 'utf8')) as { step: number }).step;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
