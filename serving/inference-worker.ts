import { parentPort, workerData } from 'node:worker_threads';
import { OnnxEngine } from '../src/engine/onnx-engine.ts';
import { isSupernetError } from '../src/errors.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import { type ExecutorSpec, SubnetExecutor } from './subnet-executor.ts';

// A tensor of the shared weight buffer: float32 elements from a byte offset.
export interface SharedWeightEntry {
  name: string;
  shape: number[];
  byteOffset: number;
  length: number;
}

// What a worker is started with: which engine to load ahead (the supernet comes later, with `init`).
export interface WorkerBoot {
  inferenceWorker: true;
  engine: 'onnx' | 'tfjs';
}

// Messages to a worker: `init` once (the executor spec and the weights in one SharedArrayBuffer), then runs.
export type WorkerRequest =
  | { type: 'init'; id: number; spec: ExecutorSpec; buffer: SharedArrayBuffer; entries: SharedWeightEntry[] }
  | { type: 'run'; id: number; subnet: number; batch: TokenBatch }
  | { type: 'stats'; id: number }
  | { type: 'dispose'; id: number };

// An error as it crosses the thread boundary.
export interface WorkerError {
  name: string;
  code: string | undefined;
  message: string;
}

// Messages from a worker: `booted` once its modules (and runtime) are loaded, then one reply per request.
export type WorkerReply =
  | { type: 'booted' }
  | { type: 'done'; id: number }
  | { type: 'result'; id: number; logits: Float32Array }
  | { type: 'error'; id: number; error: WorkerError }
  | { type: 'stats'; id: number; stats: unknown };

// The worker's side: loads the engine's runtime at boot, builds a SubnetExecutor over the shared weights on
// `init`, and answers requests in order.
export async function runInferenceWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('inference-worker.ts runs in a worker thread');
  const boot = workerData as WorkerBoot;
  let executor: SubnetExecutor | undefined;
  port.on('message', async (message: WorkerRequest) => {
    try {
      if (message.type === 'init') {
        const weights = new Map<string, WeightTensor>(
          message.entries.map((e) => [
            e.name,
            { name: e.name, shape: e.shape, data: new Float32Array(message.buffer, e.byteOffset, e.length) },
          ]),
        );
        executor = await SubnetExecutor.create(message.spec, weights);
        port.postMessage({ type: 'done', id: message.id } satisfies WorkerReply);
      } else if (!executor) {
        throw new Error('inference worker: no init yet');
      } else if (message.type === 'run') {
        const logits = await executor.run(message.subnet, message.batch);
        port.postMessage({ type: 'result', id: message.id, logits } satisfies WorkerReply);
      } else if (message.type === 'stats') {
        port.postMessage({ type: 'stats', id: message.id, stats: executor.stats() } satisfies WorkerReply);
      } else {
        await executor.dispose().catch(() => {});
        port.postMessage({ type: 'done', id: message.id } satisfies WorkerReply);
        port.close();
      }
    } catch (error) {
      port.postMessage({ type: 'error', id: message.id, error: toWorkerError(error) } satisfies WorkerReply);
    }
  });
  // Loading onnxruntime's native binding takes a while: done at boot, before the supernet is read.
  if (boot.engine === 'onnx') await OnnxEngine.runtimeVersion().catch(() => {});
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
