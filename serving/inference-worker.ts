import { parentPort, workerData } from 'node:worker_threads';
import { isSupernetError } from '../src/errors.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import { EngineRuntime, type EngineSettings, type ModelSpec, SubnetExecutor } from './subnet-executor.ts';

// A tensor of the shared weight buffer: float32 elements from a byte offset.
export interface SharedWeightEntry {
  name: string;
  shape: number[];
  byteOffset: number;
  length: number;
}

// What a worker is started with: the engine it runs every model on (loaded at boot, before any model comes).
export interface WorkerBoot {
  inferenceWorker: true;
  settings: EngineSettings;
}

// Messages to a worker: `attach` a model (its spec and its weights in one SharedArrayBuffer) under a key, run
// batches on it, `detach` it; `stats` and `dispose` are for the whole worker.
export type WorkerRequest =
  | {
      type: 'attach';
      id: number;
      key: string;
      spec: ModelSpec;
      buffer: SharedArrayBuffer;
      entries: SharedWeightEntry[];
    }
  | { type: 'run'; id: number; key: string; subnet: number; batch: TokenBatch }
  | { type: 'detach'; id: number; key: string }
  | { type: 'stats'; id: number }
  | { type: 'dispose'; id: number };

// An error as it crosses the thread boundary.
export interface WorkerError {
  name: string;
  code: string | undefined;
  message: string;
}

// Messages from a worker: `booted` once its engine is loaded, then one reply per request.
export type WorkerReply =
  | { type: 'booted' }
  | { type: 'done'; id: number }
  | { type: 'result'; id: number; logits: Float32Array }
  | { type: 'error'; id: number; error: WorkerError }
  | { type: 'stats'; id: number; stats: unknown };

// The worker's side: creates the engine at boot, a SubnetExecutor per attached model over its shared weights (all
// sharing the engine's cache budget), and answers requests in order.
export async function runInferenceWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('inference-worker.ts runs in a worker thread');
  const boot = workerData as WorkerBoot;
  const runtime = await EngineRuntime.create(boot.settings);
  const executors = new Map<string, SubnetExecutor>();
  const executorOf = (key: string): SubnetExecutor => {
    const executor = executors.get(key);
    if (!executor) throw new Error(`inference worker: no model attached as ${key}`);
    return executor;
  };
  port.on('message', async (message: WorkerRequest) => {
    try {
      if (message.type === 'attach') {
        const weights = new Map<string, WeightTensor>(
          message.entries.map((e) => [
            e.name,
            { name: e.name, shape: e.shape, data: new Float32Array(message.buffer, e.byteOffset, e.length) },
          ]),
        );
        executors.set(message.key, await SubnetExecutor.create(runtime, message.spec, weights));
        port.postMessage({ type: 'done', id: message.id } satisfies WorkerReply);
      } else if (message.type === 'run') {
        const logits = await executorOf(message.key).run(message.subnet, message.batch);
        port.postMessage({ type: 'result', id: message.id, logits } satisfies WorkerReply);
      } else if (message.type === 'detach') {
        const executor = executors.get(message.key);
        executors.delete(message.key);
        await executor?.dispose();
        port.postMessage({ type: 'done', id: message.id } satisfies WorkerReply);
      } else if (message.type === 'stats') {
        const stats = runtime.stats(executors.values());
        port.postMessage({ type: 'stats', id: message.id, stats } satisfies WorkerReply);
      } else {
        await Promise.allSettled([...executors.values()].map((e) => e.dispose()));
        executors.clear();
        port.postMessage({ type: 'done', id: message.id } satisfies WorkerReply);
        port.close();
      }
    } catch (error) {
      port.postMessage({ type: 'error', id: message.id, error: toWorkerError(error) } satisfies WorkerReply);
    }
  });
  port.postMessage({ type: 'booted' } satisfies WorkerReply);
}

function toWorkerError(error: unknown): WorkerError {
  return {
    name: error instanceof Error ? error.name : 'Error',
    code: isSupernetError(error) ? error.code : undefined,
    message: error instanceof Error ? error.message : String(error),
  };
}

if (parentPort && (workerData as Partial<WorkerBoot> | null)?.inferenceWorker === true) {
  await runInferenceWorker();
}
