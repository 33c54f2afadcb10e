import { Worker } from 'node:worker_threads';
import type { BackendPreference } from '../../src/backend/select-backend.ts';
import type { SubnetConfig, SupernetConfig } from '../../src/model/config.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import { type AdamSettings, type AdamState, adamwStep } from '../adamw.ts';
import { FlatLayout, sharedFloats } from '../flat-params.ts';
import type { LossSpec } from './losses.ts';
import type { SubnetStepStats, WorkerRequest, WorkerResponse } from './protocol.ts';

// Per-step statistics, summed over workers.
export interface StepStats {
  loss: number;
  perSubnet: SubnetStepStats[];
}

// A masked-LM step: the loss (mean over masked tokens) and how many of them the model predicted right.
export interface MaskedLmStepStats {
  loss: number;
  correct: number;
  masked: number;
}

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void };

// One worker's share of a batch: its rows, their labels, and where they start in the batch.
interface Shard {
  batch: TokenBatch;
  labels: Int32Array;
  firstRow: number;
}

// A request that carries a share of a batch, before fanOut adds its id and the parameter version.
type ShardRequest = WorkerRequest extends infer R
  ? R extends { paramsVersion: number }
    ? Omit<R, 'id' | 'paramsVersion'>
    : never
  : never;

// The values of a per-row array ([batch rows * width]) that belong to a shard's rows.
function shardRows<T extends Int32Array | Float32Array>(values: T, shard: Shard, width: number): T {
  return values.slice(shard.firstRow * width, (shard.firstRow + shard.batch.batch) * width) as T;
}

// Data-parallel gradients on N worker threads (one tfjs replica per core). The pool owns the parameters (shared
// with the workers) and applies the optimizer to them; each step splits the batch's rows across the workers and
// averages their gradients into `grads`. Parameters change only through `setParams` and `applyAdamW`, which move
// the version the workers reload on, so no worker computes on stale weights.
export class GradientPool {
  readonly layout: FlatLayout;
  // The last step's gradients, averaged over the workers (read them; the pool writes them).
  readonly grads: Float32Array;
  private readonly params: Float32Array;
  private readonly workerGrads: Float32Array[];
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private version = 0;
  private failure: Error | undefined;

  private constructor(
    config: SupernetConfig,
    count: number,
    backend: BackendPreference,
    initial: Float32Array,
  ) {
    this.layout = new FlatLayout(config);
    this.params = sharedFloats(this.layout.total);
    this.params.set(initial);
    this.grads = new Float32Array(this.layout.total);
    this.workerGrads = Array.from({ length: count }, () => sharedFloats(this.layout.total));
    this.workers = this.workerGrads.map(
      (g) =>
        new Worker(new URL('./gradient-worker-entry.mjs', import.meta.url), {
          workerData: { config, backend, params: this.params.buffer, grads: g.buffer },
        }),
    );
    for (const worker of this.workers) {
      worker.on('message', (message: WorkerResponse) => this.settle(message));
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`gradient worker exited with code ${code}`));
      });
    }
  }

  // Starts the workers and waits until each has loaded the initial parameters.
  static async start(
    config: SupernetConfig,
    count: number,
    backend: BackendPreference,
    initial: Float32Array,
  ): Promise<GradientPool> {
    const pool = new GradientPool(config, count, backend, initial);
    await Promise.all(pool.workers.map(() => pool.waitFor(-1)));
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  // A copy of the current parameters, flattened in layout order.
  snapshotParams(): Float32Array {
    return this.params.slice();
  }

  // Replaces the parameters (a copy of `flat` is taken): the workers reload them before their next request.
  setParams(flat: Float32Array): void {
    if (flat.length !== this.params.length)
      throw new Error(`parameters of length ${flat.length}, the layout holds ${this.params.length}`);
    this.params.set(flat);
    this.version++;
  }

  // One AdamW update of the parameters from the last step's gradients (`adam` is updated too): the workers
  // reload them before their next request. Returns the gradients' norm before clipping.
  applyAdamW(adam: AdamState, settings: AdamSettings): number {
    const norm = adamwStep(this.params, this.grads, adam, this.layout, settings);
    this.version++;
    return norm;
  }

  // Sets (or clears) the frozen teacher every worker distills from.
  async setTeacher(flat: Float32Array | null): Promise<void> {
    let shared: SharedArrayBuffer | null = null;
    if (flat) {
      const copy = sharedFloats(flat.length);
      copy.set(flat);
      shared = copy.buffer as SharedArrayBuffer;
    }
    await Promise.all(
      this.workers.map((w) => this.request(w, { type: 'teacher', id: this.id(), params: shared })),
    );
  }

  // Gradients of the summed subnet losses, averaged over the batch's rows, into `grads`.
  async step(
    batch: TokenBatch,
    labels: Int32Array,
    subnets: SubnetConfig[],
    loss: LossSpec,
    priors?: Float32Array,
  ): Promise<StepStats> {
    const { shards, responses } = await this.fanOut(batch, labels, (s) => ({
      type: 'step',
      batch: s.batch,
      labels: s.labels,
      ...(priors !== undefined && { priors: shardRows(priors, s, priors.length / batch.batch) }),
      subnets,
      loss,
    }));
    const shares = shards.map((s) => s.batch.batch / batch.batch);
    this.averageGradients(shares);
    const stats: StepStats = { loss: 0, perSubnet: subnets.map(() => ({ loss: 0, correct: 0 })) };
    responses.forEach((r, w) => {
      if (r.type !== 'step') throw new Error(`unexpected worker response ${r.type}`);
      stats.loss += r.loss * shares[w]!;
      r.perSubnet.forEach((p, k) => {
        stats.perSubnet[k]!.loss += p.loss * shares[w]!;
        stats.perSubnet[k]!.correct += p.correct;
      });
    });
    return stats;
  }

  // Masked-LM gradients of the full model, averaged over the batch's masked tokens, into `grads`. targets
  // [batch * tokens]: the original id where the batch was masked, -1 elsewhere. Each worker's share is its
  // share of the masked tokens, so the result does not depend on how rows were split.
  async maskedLmStep(batch: TokenBatch, targets: Int32Array): Promise<MaskedLmStepStats> {
    const { responses } = await this.fanOut(batch, new Int32Array(batch.batch), (s) => ({
      type: 'masked-lm-step',
      batch: s.batch,
      targets: shardRows(targets, s, batch.tokens),
    }));
    const parts = responses.map((r) => {
      if (r.type !== 'masked-lm-step') throw new Error(`unexpected worker response ${r.type}`);
      return r;
    });
    const masked = parts.reduce((n, r) => n + r.masked, 0);
    const shares = parts.map((r) => r.masked / Math.max(1, masked));
    this.averageGradients(shares);
    return {
      loss: parts.reduce((sum, r, w) => sum + r.loss * shares[w]!, 0),
      correct: parts.reduce((n, r) => n + r.correct, 0),
      masked,
    };
  }

  // grads = the workers' gradients weighted by their shares of the step.
  private averageGradients(shares: number[]): void {
    this.grads.fill(0);
    shares.forEach((share, w) => {
      const g = this.workerGrads[w]!;
      for (let i = 0; i < g.length; i++) this.grads[i]! += g[i]! * share;
    });
  }

  // Logits [batch * labels] of each subnet on the batch, rows split across workers.
  async predict(batch: TokenBatch, subnets: SubnetConfig[]): Promise<Float32Array[]> {
    const { responses } = await this.fanOut(batch, new Int32Array(batch.batch), (s) => ({
      type: 'predict',
      batch: s.batch,
      subnets,
    }));
    return subnets.map((_, k) => {
      const parts = responses.map((r) => (r.type === 'predict' ? r.logits[k]! : new Float32Array(0)));
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let offset = 0;
      for (const p of parts) {
        out.set(p, offset);
        offset += p.length;
      }
      return out;
    });
  }

  // Head and neuron importance of the largest subnet on one batch, summed over workers.
  async importance(
    batch: TokenBatch,
    labels: Int32Array,
  ): Promise<{ heads: Float32Array[]; neurons: Float32Array[] }> {
    const { responses } = await this.fanOut(batch, labels, (s) => ({
      type: 'importance',
      batch: s.batch,
      labels: s.labels,
    }));
    const first = responses[0]!;
    if (first.type !== 'importance') throw new Error('unexpected worker response');
    const heads = first.heads.map((h) => h.slice());
    const neurons = first.neurons.map((n) => n.slice());
    for (const r of responses.slice(1)) {
      if (r.type !== 'importance') continue;
      addInto(heads, r.heads);
      addInto(neurons, r.neurons);
    }
    return { heads, neurons };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  // Splits the batch's rows across the workers and sends each its share (`make` builds the request for a share,
  // without the id and parameter version added here); the shares and the answers, in worker order.
  private async fanOut(
    batch: TokenBatch,
    labels: Int32Array,
    make: (shard: Shard) => ShardRequest,
  ): Promise<{ shards: Shard[]; responses: WorkerResponse[] }> {
    const shards = this.shard(batch, labels);
    const responses = await Promise.all(
      shards.map((s, w) =>
        this.request(this.workers[w]!, {
          ...make(s),
          id: this.id(),
          paramsVersion: this.version,
        } as WorkerRequest),
      ),
    );
    return { shards, responses };
  }

  // Splits rows as evenly as possible; a worker with no rows gets none (tiny batches).
  private shard(batch: TokenBatch, labels: Int32Array): Shard[] {
    const count = Math.min(this.workers.length, batch.batch);
    const shards = [];
    let row = 0;
    for (let w = 0; w < count; w++) {
      const rows = Math.floor(batch.batch / count) + (w < batch.batch % count ? 1 : 0);
      const from = row * batch.tokens;
      const to = (row + rows) * batch.tokens;
      shards.push({
        batch: {
          batch: rows,
          tokens: batch.tokens,
          ids: batch.ids.slice(from, to),
          mask: batch.mask.slice(from, to),
          ...(batch.typeIds && { typeIds: batch.typeIds.slice(from, to) }),
        },
        labels: labels.slice(row, row + rows),
        firstRow: row,
      });
      row += rows;
    }
    return shards;
  }

  private id(): number {
    return this.nextId++;
  }

  private request(worker: Worker, message: WorkerRequest): Promise<WorkerResponse> {
    const response = this.waitFor(message.id);
    worker.postMessage(message);
    return response;
  }

  private waitFor(id: number): Promise<WorkerResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // Startup ('ready' with id -1) may come from any worker: queue those under distinct keys.
      const key = id === -1 ? -1 - this.pending.size - 1_000_000 : id;
      this.pending.set(key, { resolve, reject });
    });
  }

  private settle(message: WorkerResponse): void {
    if (message.type === 'error') {
      const p = this.pending.get(message.id);
      this.pending.delete(message.id);
      p?.reject(new Error(`gradient worker: ${message.message}`));
      return;
    }
    let key: number | undefined = message.id;
    if (message.id === -1) key = [...this.pending.keys()].find((k) => k <= -1_000_000);
    const p = key === undefined ? undefined : this.pending.get(key);
    if (key !== undefined) this.pending.delete(key);
    p?.resolve(message);
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

// Adds per-layer score arrays into running sums, in place.
export function addInto(sums: Float32Array[], values: Float32Array[]): void {
  for (const [k, v] of values.entries()) for (let i = 0; i < v.length; i++) sums[k]![i]! += v[i]!;
}
