import { Worker } from 'node:worker_threads';
import { EngineError, type ErrorCode } from '../src/errors.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import type {
  SharedWeightEntry,
  WorkerBoot,
  WorkerError,
  WorkerReply,
  WorkerRequest,
} from './inference-worker.ts';
import { type ExecutorSpec, type ExecutorStats, SubnetExecutor } from './subnet-executor.ts';

// Where subnets run: `slots` executors that each run one batch at a time (the scheduler keeps each busy).
export interface InferencePool {
  readonly slots: number;
  // Whether a slot can take work (a worker that died cannot).
  isAlive(slot: number): boolean;
  run(slot: number, subnetIndex: number, batch: TokenBatch): Promise<Float32Array>;
  stats(): Promise<ExecutorStats[]>;
  dispose(): Promise<void>;
}

// Creates the pool: 0 workers runs subnets on the calling thread (Lambda, tests), n > 0 uses n worker threads
// sharing one copy of the supernet's weights (taken from `spares` when some were started ahead). onnxruntime-node
// runs a call synchronously on its JS thread, so only worker threads let two calls (and the event loop) use two
// cores at once.
export async function createInferencePool(
  spec: ExecutorSpec,
  weights: ReadonlyMap<string, WeightTensor>,
  workers: number,
  spares?: WorkerSpares,
): Promise<InferencePool> {
  if (workers === 0) return new InProcessPool(await SubnetExecutor.create(spec, weights));
  return WorkerPool.start(spec, weights, workers, spares);
}

// Worker threads started ahead of need (their modules and runtime loaded while the artifact is read).
export class WorkerSpares {
  private readonly spares: Array<{ engine: 'onnx' | 'tfjs'; worker: Promise<Worker> }> = [];

  // Starts workers until `count` spares of this engine are booting or booted.
  prestart(engine: 'onnx' | 'tfjs', count: number): void {
    const have = this.spares.filter((s) => s.engine === engine).length;
    for (let i = have; i < count; i++) {
      const worker = bootWorker(engine);
      worker.catch(() => {});
      this.spares.push({ engine, worker });
    }
  }

  // One spare of this engine, or a new worker.
  take(engine: 'onnx' | 'tfjs'): Promise<Worker> {
    const index = this.spares.findIndex((s) => s.engine === engine);
    if (index < 0) return bootWorker(engine);
    return this.spares.splice(index, 1)[0]!.worker;
  }

  // Stops the spares nobody took.
  async dispose(): Promise<void> {
    const left = this.spares.splice(0);
    await Promise.allSettled(left.map(async (s) => (await s.worker).terminate()));
  }
}

class InProcessPool implements InferencePool {
  readonly slots = 1;
  private readonly executor: SubnetExecutor;

  constructor(executor: SubnetExecutor) {
    this.executor = executor;
  }

  isAlive(): boolean {
    return true;
  }

  run(_slot: number, subnetIndex: number, batch: TokenBatch): Promise<Float32Array> {
    return this.executor.run(subnetIndex, batch);
  }

  async stats(): Promise<ExecutorStats[]> {
    return [this.executor.stats()];
  }

  dispose(): Promise<void> {
    return this.executor.dispose();
  }
}

// A request to a worker before it gets its id.
type WorkerCall = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

// One worker thread and the calls waiting for its replies.
class WorkerSlot {
  readonly worker: Worker;
  alive = true;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (reply: WorkerReply) => {
      if (!('id' in reply)) return;
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.type === 'error') waiting.reject(fromWorkerError(reply.error));
      else if (reply.type === 'result') waiting.resolve(reply.logits);
      else if (reply.type === 'stats') waiting.resolve(reply.stats);
      else waiting.resolve(undefined);
    });
    const fail = (why: string) => {
      this.alive = false;
      for (const waiting of this.pending.values()) {
        waiting.reject(new EngineError('ENGINE_FAILED', `inference worker ${why}`));
      }
      this.pending.clear();
    };
    worker.on('error', (error) => fail(`failed: ${error.message}`));
    worker.on('exit', (code) => fail(`exited with code ${code}`));
  }

  call<T>(request: WorkerCall): Promise<T> {
    if (!this.alive) return Promise.reject(new EngineError('ENGINE_FAILED', 'inference worker is gone'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    });
  }
}

class WorkerPool implements InferencePool {
  readonly slots: number;
  private readonly workers: WorkerSlot[];

  private constructor(workers: WorkerSlot[]) {
    this.workers = workers;
    this.slots = workers.length;
  }

  static async start(
    spec: ExecutorSpec,
    weights: ReadonlyMap<string, WeightTensor>,
    count: number,
    spares = new WorkerSpares(),
  ): Promise<WorkerPool> {
    const { buffer, entries } = shareWeights(weights);
    const booted = await Promise.allSettled(Array.from({ length: count }, () => spares.take(spec.engine)));
    const slots = booted.flatMap((b) => (b.status === 'fulfilled' ? [new WorkerSlot(b.value)] : []));
    const bootFailure = booted.find((b) => b.status === 'rejected');
    const initialized = bootFailure
      ? []
      : await Promise.allSettled(slots.map((slot) => slot.call({ type: 'init', spec, buffer, entries })));
    const failure = bootFailure ?? initialized.find((i) => i.status === 'rejected');
    if (failure) {
      await Promise.allSettled(slots.map((slot) => slot.worker.terminate()));
      throw failure.reason;
    }
    return new WorkerPool(slots);
  }

  isAlive(slot: number): boolean {
    return this.workers[slot]?.alive ?? false;
  }

  run(slot: number, subnetIndex: number, batch: TokenBatch): Promise<Float32Array> {
    const worker = this.workers[slot];
    if (!worker) return Promise.reject(new RangeError(`no slot ${slot}`));
    return worker.call<Float32Array>({ type: 'run', subnet: subnetIndex, batch });
  }

  stats(): Promise<ExecutorStats[]> {
    return Promise.all(
      this.workers.filter((w) => w.alive).map((w) => w.call<ExecutorStats>({ type: 'stats' })),
    );
  }

  async dispose(): Promise<void> {
    await Promise.allSettled(
      this.workers.map(async (w) => {
        if (w.alive) await w.call({ type: 'dispose' }).catch(() => {});
        w.alive = false;
        await w.worker.terminate();
      }),
    );
  }
}

// Copies the weights once into a SharedArrayBuffer that every worker views without copying.
function shareWeights(weights: ReadonlyMap<string, WeightTensor>): {
  buffer: SharedArrayBuffer;
  entries: SharedWeightEntry[];
} {
  let bytes = 0;
  for (const w of weights.values()) bytes += w.data.byteLength;
  const buffer = new SharedArrayBuffer(bytes);
  const entries: SharedWeightEntry[] = [];
  let offset = 0;
  for (const w of weights.values()) {
    new Float32Array(buffer, offset, w.data.length).set(w.data);
    entries.push({ name: w.name, shape: w.shape, byteOffset: offset, length: w.data.length });
    offset += w.data.byteLength;
  }
  return { buffer, entries };
}

const WORKER_URL = new URL('./inference-worker.ts', import.meta.url);

// Starts a worker and waits until it has booted (modules and runtime loaded). Under tsx (the way this project
// runs), a worker does not inherit the TypeScript loader on Node 20, so a small bootstrap registers it first.
function bootWorker(engine: 'onnx' | 'tfjs'): Promise<Worker> {
  const url = WORKER_URL.href;
  const workerData: WorkerBoot = { inferenceWorker: true, engine };
  const worker = url.endsWith('.ts')
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`,
        { eval: true, workerData },
      )
    : new Worker(WORKER_URL, { workerData });
  return new Promise<Worker>((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if (reply.type !== 'booted') return;
      cleanup();
      resolve(worker);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new EngineError('ENGINE_UNAVAILABLE', `inference worker failed to start: ${error.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new EngineError('ENGINE_UNAVAILABLE', `inference worker exited with code ${code} at start`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

// Rebuilds a worker's error: our named errors keep their code, anything else becomes ENGINE_FAILED.
function fromWorkerError(error: WorkerError): Error {
  const code = (error.code ?? 'ENGINE_FAILED') as ErrorCode;
  return new EngineError(code, error.message);
}
