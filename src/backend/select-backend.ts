import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors.ts';
import { registerWasmFallbackKernels } from './wasm-kernels.ts';

// Which TensorFlow.js backend to run on. 'auto' tries node-gpu, node, wasm, then cpu.
export type BackendPreference = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];

// What was chosen: the preference that won, the tfjs backend name, and why.
export interface BackendChoice {
  kind: Exclude<BackendPreference, 'auto'>;
  tfBackend: string;
  reason: string;
}

type Candidate = Exclude<BackendPreference, 'auto'>;
const AUTO_ORDER: readonly Candidate[] = ['node-gpu', 'node', 'wasm', 'cpu'];

// The native packages are optional peers: they cannot install everywhere (they download libtensorflow).
const NATIVE_PACKAGES: Record<'node-gpu' | 'node', string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
};

let logged: string | undefined;

// tfjs-node(-gpu) 4.22 calls util.isNullOrUndefined, removed in Node 23, and util.isArray, deprecated since
// Node 22 (a DeprecationWarning on first use): give both their plain meaning before a native package loads.
function provideLegacyUtil(): void {
  const util = createRequire(import.meta.url)('node:util') as Record<string, unknown>;
  util.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  util.isArray = Array.isArray;
}

// Picks and activates the tfjs backend; logs the choice once per process through `log`.
export async function selectBackend(
  preference: BackendPreference = 'auto',
  log: (message: string) => void = () => {},
): Promise<BackendChoice> {
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `unknown backend '${String(preference)}': use one of ${BACKEND_PREFERENCES.join(', ')}`,
    );
  }
  const candidates = preference === 'auto' ? AUTO_ORDER : [preference];
  const failures: string[] = [];
  for (const kind of candidates) {
    const failure = await activate(kind);
    if (failure === undefined) {
      const reason =
        preference === 'auto'
          ? failures.length > 0
            ? `auto: ${failures.join('; ')}`
            : 'auto: first choice'
          : 'requested';
      const choice: BackendChoice = { kind, tfBackend: tf.getBackend(), reason };
      const line = `tfjs backend: ${kind} (${reason})`;
      if (logged !== line) {
        logged = line;
        log(line);
      }
      return choice;
    }
    failures.push(`${kind} unavailable (${failure})`);
  }
  throw new BackendError('BACKEND_UNAVAILABLE', `no tfjs backend could start: ${failures.join('; ')}`);
}

// Returns undefined when the backend is active, else a one-line reason.
async function activate(kind: Candidate): Promise<string | undefined> {
  try {
    if (kind === 'node-gpu' || kind === 'node') {
      provideLegacyUtil();
      await import(NATIVE_PACKAGES[kind]);
      return (await tf.setBackend('tensorflow')) ? undefined : 'the tensorflow backend did not initialize';
    }
    if (kind === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not initialize';
      registerWasmFallbackKernels();
      return undefined;
    }
    await import('@tensorflow/tfjs-backend-cpu');
    return (await tf.setBackend('cpu')) ? undefined : 'the cpu backend did not initialize';
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/Cannot find (module|package)/.test(message))
      return `${NATIVE_PACKAGES[kind as 'node'] ?? kind} not installed`;
    return message.split('\n')[0];
  }
}
