import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

// A stage's resumable state: where it is and the arrays it needs. Written to a temp folder and renamed into
// place, so a checkpoint is either whole or absent; the state file records the config digest it belongs to.
const CheckpointStateSchema = z
  .object({
    configDigest: z.string(),
    stage: z.string(),
    step: z.number().int().nonnegative(),
    totalSteps: z.number().int().nonnegative(),
    rngState: z.number().int(),
    // Free-form progress the stage wants back (best dev accuracy, data epoch...).
    extra: z.record(z.string(), z.unknown()),
    arrays: z.array(z.object({ name: z.string(), length: z.number().int().nonnegative() })),
    savedAt: z.string(),
  })
  .strict();
export type CheckpointState = z.infer<typeof CheckpointStateSchema>;

export interface Checkpoint {
  state: CheckpointState;
  arrays: Map<string, Float32Array>;
}

// Thrown when a checkpoint belongs to another config: resuming would mix two runs.
export class CheckpointMismatchError extends Error {}

// Saves a checkpoint atomically under `dir/name`.
export async function saveCheckpoint(
  dir: string,
  name: string,
  state: Omit<CheckpointState, 'arrays' | 'savedAt'>,
  arrays: Record<string, Float32Array>,
): Promise<void> {
  const final = join(dir, name);
  const temp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  const entries = Object.entries(arrays);
  for (const [key, values] of entries) {
    await writeFile(
      join(temp, `${key}.f32`),
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }
  const full: CheckpointState = {
    ...state,
    arrays: entries.map(([key, values]) => ({ name: key, length: values.length })),
    savedAt: new Date().toISOString(),
  };
  await writeFile(join(temp, 'state.json'), JSON.stringify(full, null, 1));
  await rename(final, old).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await rename(temp, final);
  await rm(old, { recursive: true, force: true });
}

// Loads `dir/name` if it exists; refuses one written under another config digest.
export async function loadCheckpoint(
  dir: string,
  name: string,
  configDigest: string,
): Promise<Checkpoint | undefined> {
  const folder = join(dir, name);
  let text: string;
  try {
    text = await readFile(join(folder, 'state.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = CheckpointStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new CheckpointMismatchError(`checkpoint ${folder}: state.json is malformed`);
  const state = parsed.data;
  if (state.configDigest !== configDigest) {
    throw new CheckpointMismatchError(
      `checkpoint ${folder} was written by config ${state.configDigest}, not this config (${configDigest}): ` +
        'use another --checkpoints folder or --fresh to start over',
    );
  }
  const arrays = new Map<string, Float32Array>();
  for (const { name: key, length } of state.arrays) {
    const bytes = await readFile(join(folder, `${key}.f32`));
    if (bytes.byteLength !== length * 4) {
      throw new CheckpointMismatchError(
        `checkpoint ${folder}: ${key}.f32 has ${bytes.byteLength} bytes, expected ${length * 4}`,
      );
    }
    const values = new Float32Array(length);
    new Uint8Array(values.buffer).set(bytes);
    arrays.set(key, values);
  }
  return { state, arrays };
}
