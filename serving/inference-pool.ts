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
import {
  EngineRuntime,
  type EngineSettings,
  type ExecutorStats,
  type ModelSpec,
  SubnetExecutor,
} from './subnet-executor.ts';

// How long a worker that died waits before it is started again, after a failed restart.
const RESTART_RETRY_MS = 5000;

// Where one model's subnets run: `slots` executors that each run one batch at a time (the scheduler keeps each
// busy). The slots are the engine pool's, shared with every other model.
export interface InferencePool {
  readonly slots: number;
  // Whether a slot can take work (a worker that died cannot, until it is restarted).
  isAlive(slot: number): boolean;
  run(slot: number, subnetIndex: number, batch: TokenBatch): Promise<Float32Array>;
  // What the engines hold (every model's subnets), one entry per live slot.
  stats(): Promise<ExecutorStats[]>;
  // Frees the model's subnets on every slot (the slots stay, for the other models).
  dispose(): Promise<void>;
}

// The engines every model of a server runs on: 0 workers runs subnets on the calling thread (Lambda, tests), n > 0
// on n worker threads. onnxruntime-node runs a call synchronously on its JS thread, so only worker threads let
// two calls (and the event loop) use two cores at once. Each slot holds one engine and one subnet-cache budget
// (ENGINE_CACHE_MB) shared by every attached model.
export interface EnginePool {
  readonly slots: number;
  isAlive(slot: number): boolean;
  // Materializes a model's catalog subnets on every slot; the returned pool runs them.
  attach(spec: ModelSpec, weights: ReadonlyMap<string, WeightTensor>): Promise<InferencePool>;
  stats(): Promise<ExecutorStats[]>;
  dispose(): Promise<void>;
}

// An engine pool with this many worker threads (0: in process). Workers start booting at once.
export function createEnginePool(settings: EngineSettings, workers: number): EnginePool {
  return workers === 0 ? new InProcessEnginePool(settings) : new WorkerEnginePool(settings, workers);
}

class InProcessEnginePool implements EnginePool {
  readonly slots = 1;
  private readonly settings: EngineSettings;
  private runtime: Promise<EngineRuntime> | undefined;
  private readonly executors = new Set<SubnetExecutor>();

  constructor(settings: EngineSettings) {
    this.settings = settings;
  }

  isAlive(): boolean {
    return true;
  }

  async attach(spec: ModelSpec, weights: ReadonlyMap<string, WeightTensor>): Promise<InferencePool> {
    this.runtime ??= EngineRuntime.create(this.settings);
    this.runtime.catch(() => {
      this.runtime = undefined;
    });
    const executor = await SubnetExecutor.create(await this.runtime, spec, weights);
    this.executors.add(executor);
    return {
      slots: 1,
      isAlive: () => true,
      run: (_slot, subnetIndex, batch) => executor.run(subnetIndex, batch),
      stats: () => this.stats(),
      dispose: async () => {
        if (!this.executors.delete(executor)) return;
        await executor.dispose();
      },
    };
  }

  async stats(): Promise<ExecutorStats[]> {
    if (!this.runtime) return [];
    return [(await this.runtime).stats(this.executors)];
  }

  async dispose(): Promise<void> {
    const executors = [...this.executors];
    this.executors.clear();
    await Promise.allSettled(executors.map((e) => e.dispose()));
  }
}

// A request to a worker before it gets its id.
type WorkerCall = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

// One booted worker thread and the calls waiting for its replies; `onDeath` runs once when it fails or exits.
class WorkerSlot {
  readonly worker: Worker;
  alive = true;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(worker: Worker, onDeath: (why: string) => void) {
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
      if (!this.alive) return;
      this.alive = false;
      for (const waiting of this.pending.values()) {
        waiting.reject(new EngineError('ENGINE_FAILED', `inference worker ${why}`));
      }
      this.pending.clear();
      onDeath(why);
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

  async stop(): Promise<void> {
    if (this.alive) await this.call({ type: 'dispose' }).catch(() => {});
    this.alive = false;
    await this.worker.terminate();
  }
}

// A model as every worker holds it: what a restarted worker is given again.
interface Attachment {
  key: string;
  spec: ModelSpec;
  buffer: SharedArrayBuffer;
  entries: SharedWeightEntry[];
}

class WorkerEnginePool implements EnginePool {
  readonly slots: number;
  private readonly settings: EngineSettings;
  // Each slot's worker, booted and given every attached model (undefined while that is under way).
  private readonly workers: Array<WorkerSlot | undefined>;
  private readonly starting: Array<Promise<WorkerSlot> | undefined>;
  private readonly attached = new Map<string, Attachment>();
  private nextKey = 0;
  private disposed = false;

  constructor(settings: EngineSettings, count: number) {
    this.settings = settings;
    this.slots = count;
    this.workers = Array.from({ length: count }, () => undefined);
    this.starting = Array.from({ length: count }, () => undefined);
    for (let slot = 0; slot < count; slot++) this.start(slot).catch(() => {});
  }

  isAlive(slot: number): boolean {
    return this.workers[slot]?.alive ?? false;
  }

  async attach(spec: ModelSpec, weights: ReadonlyMap<string, WeightTensor>): Promise<InferencePool> {
    if (this.disposed) throw new EngineError('ENGINE_FAILED', 'the engine pool is closed');
    const attachment: Attachment = { key: `model-${this.nextKey++}`, spec, ...shareWeights(weights) };
    const slots = await Promise.all(this.workers.map((w, slot) => (w?.alive ? w : this.start(slot))));
    const attached = await Promise.allSettled(slots.map((w) => w.call({ type: 'attach', ...attachment })));
    const failure = attached.find((a) => a.status === 'rejected');
    if (failure) {
      await Promise.allSettled(slots.map((w) => w.call({ type: 'detach', key: attachment.key })));
      throw failure.reason;
    }
    this.attached.set(attachment.key, attachment);
    return {
      slots: this.slots,
      isAlive: (slot) => this.isAlive(slot),
      run: (slot, subnetIndex, batch) => {
        const worker = this.workers[slot];
        if (!worker)
          return Promise.reject(new EngineError('ENGINE_FAILED', `inference worker ${slot} is gone`));
        return worker.call<Float32Array>({ type: 'run', key: attachment.key, subnet: subnetIndex, batch });
      },
      stats: () => this.stats(),
      dispose: async () => {
        if (!this.attached.delete(attachment.key)) return;
        await Promise.allSettled(
          this.workers.map((w) => w?.call({ type: 'detach', key: attachment.key }) ?? Promise.resolve()),
        );
      },
    };
  }

  stats(): Promise<ExecutorStats[]> {
    return Promise.all(
      this.workers.flatMap((w) => (w?.alive ? [w.call<ExecutorStats>({ type: 'stats' })] : [])),
    );
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.allSettled(this.starting);
    await Promise.allSettled(this.workers.map((w) => w?.stop()));
  }

  // Boots the slot's worker (once at a time) and gives it every attached model; a worker that dies later is
  // started again the same way, so a crash costs one slot for a while, never the models.
  private start(slot: number): Promise<WorkerSlot> {
    const inProgress = this.starting[slot];
    if (inProgress) return inProgress;
    const started = (async () => {
      const worker = new WorkerSlot(await bootWorker(this.settings), () => this.restartLater(slot, 0));
      try {
        for (const attachment of this.attached.values()) await worker.call({ type: 'attach', ...attachment });
      } catch (error) {
        await worker.stop();
        throw error;
      }
      if (this.disposed) await worker.stop();
      this.workers[slot] = worker;
      return worker;
    })().finally(() => {
      this.starting[slot] = undefined;
    });
    this.starting[slot] = started;
    return started;
  }

  private restartLater(slot: number, delayMs: number): void {
    if (this.disposed) return;
    const timer = setTimeout(() => {
      this.start(slot).catch(() => this.restartLater(slot, RESTART_RETRY_MS));
    }, delayMs);
    timer.unref();
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

// Starts a worker and waits until it has booted (modules and engine loaded). Under tsx (the way this project
// runs), a worker does not inherit the TypeScript loader on Node 20, so a small bootstrap registers it first.
function bootWorker(settings: EngineSettings): Promise<Worker> {
  const url = WORKER_URL.href;
  const workerData: WorkerBoot = { inferenceWorker: true, settings };
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
