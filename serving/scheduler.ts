import { padRows, type TokenBatch, type TokenRow } from '../src/model/token-batch.ts';
import { EngineSlots, type SlotClient } from './engine-slots.ts';
import type { InferencePool } from './inference-pool.ts';
import type { LatencyModel } from './latency-model.ts';
import type { ServedPoint } from './served-point.ts';
import { ServingError } from './serving-error.ts';

// One request's work for one operating point: its rows of token ids, framed and cut to the point's tokens, and
// its deadline.
export interface ScheduledJob {
  point: ServedPoint;
  // One row per input (a text or a text pair), framed, at most `tokens` long.
  rows: readonly TokenRow[];
  // Tokens its rows are padded to at this point (the longest row).
  tokens: number;
  // Absolute time (the scheduler's clock, ms) by which it should be answered.
  deadline: number;
}

// What a job got: its own rows of logits and where its time went.
export interface JobOutcome {
  logits: Float32Array;
  queueMs: number;
  inferenceMs: number;
  // Texts in the batch it ran in (its own and those it was batched with).
  batchTexts: number;
}

// What a new job would meet now: the queueing expected before it starts (expectedWaitMs) and the engine's
// recent busy share (utilization).
export interface SchedulerOutlook {
  waitMs: number;
  utilization: number;
}

// A finished engine call, for metrics.
export interface BatchReport {
  point: ServedPoint;
  texts: number;
  jobs: number;
  tokens: number;
  inferenceMs: number;
  predictedMs: number;
}

// Settings of a scheduler.
export interface SchedulerOptions {
  pool: InferencePool;
  latency: LatencyModel;
  // The token id rows are padded with.
  padId: number;
  numLabels: number;
  maxBatch: number;
  // The longest predicted call (ms) that batching may build from jobs still on time: a call cannot be
  // interrupted, so every urgent request arriving while it runs waits for it. Past it, jobs that are late
  // themselves still join a late call when that costs less than separate calls (catching up on a backlog).
  maxBatchMs?: number;
  maxQueue: number;
  // The slots shared with the other models' schedulers (default: the pool's, for this scheduler alone).
  slots?: EngineSlots;
  now?: () => number;
  onBatch?: (report: BatchReport) => void;
}

export { UTILIZATION_WINDOW_MS } from './engine-slots.ts';

// Jobs sharing one engine call, and the operating point it runs as.
interface Batch {
  point: ServedPoint;
  members: Queued[];
}

interface Queued extends ScheduledJob {
  texts: number;
  predictedMs: number;
  enqueuedAt: number;
  resolve(outcome: JobOutcome): void;
  reject(error: unknown): void;
}

// Queues requests earliest deadline first, keeps every pool slot busy, and batches queued requests that run the
// same subnet when the batch still meets every member's deadline and stays within `maxBatchMs` (or when the head
// is late anyway and one batch costs less than separate calls). Operating points of one subnet differ only in
// how many tokens they read, so their requests share a call: each row comes cut to its own point's tokens and
// is padded to the longest, which (attention and pooling are masked) gives each row the logits it would get
// alone. Each finished call corrects the latency model. `outlook` is what selection reads: the wait it adds to a
// point's inference time, and the load it trades accuracy against. The slots are shared with the other models'
// schedulers (EngineSlots decides whose turn a free slot is).
export class Scheduler implements SlotClient {
  private readonly options: SchedulerOptions;
  private readonly now: () => number;
  private readonly slots: EngineSlots;
  // Sorted by deadline, ascending (ties: arrival order).
  private readonly queue: Queued[] = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.slots = options.slots ?? new EngineSlots(options.pool, this.now);
    this.slots.register(this);
  }

  // The engine's recent busy share, all models together (EngineSlots.utilization).
  utilization(): number {
    return this.slots.utilization();
  }

  get hasWork(): boolean {
    return this.queue.length > 0;
  }

  get headDeadline(): number {
    return this.queue[0]?.deadline ?? Number.POSITIVE_INFINITY;
  }

  // The one question a request asks before selection: its expected wait and the engine's recent load.
  outlook(deadline: number): SchedulerOutlook {
    return { waitMs: this.expectedWaitMs(deadline), utilization: this.utilization() };
  }

  // Requests waiting (not running).
  get queueLength(): number {
    return this.queue.length;
  }

  // Engine calls running.
  get runningCalls(): number {
    return this.running;
  }

  // Slots that can take work.
  get liveSlots(): number {
    return this.slots.liveSlots;
  }

  // Expected milliseconds before a new job with this deadline starts: the work queued ahead of it (earlier
  // deadlines) plus what the running calls have left, spread over the live slots. 0 when a slot is free and
  // nothing is ahead.
  expectedWaitMs(deadline: number): number {
    const now = this.now();
    let ahead = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const job = this.queue[i]!;
      if (job.deadline > deadline) break;
      ahead += job.predictedMs;
    }
    let remaining = 0;
    let soonest = Number.POSITIVE_INFINITY;
    let live = 0;
    for (let s = 0; s < this.slots.slots; s++) {
      if (!this.slots.isAlive(s)) continue;
      live++;
      const left = this.slots.remainingMs(s, now);
      remaining += left;
      if (left < soonest) soonest = left;
    }
    if (live === 0) return Number.POSITIVE_INFINITY;
    if (ahead === 0) return soonest;
    return (remaining + ahead) / live;
  }

  // Queues a job; resolves when its batch has run. Throws OVERLOADED when the queue is full.
  submit(job: ScheduledJob): Promise<JobOutcome> {
    if (this.queue.length >= this.options.maxQueue) {
      throw new ServingError('OVERLOADED', `the queue is full (${this.options.maxQueue} requests)`, {
        retryAfterS: Math.max(1, Math.ceil(this.expectedWaitMs(Number.POSITIVE_INFINITY) / 1000)),
      });
    }
    const texts = job.rows.length;
    return new Promise<JobOutcome>((resolve, reject) => {
      const queued: Queued = {
        ...job,
        texts,
        predictedMs: this.options.latency.predictMs(job.point.index, texts, job.tokens),
        enqueuedAt: this.now(),
        resolve,
        reject,
      };
      this.insert(queued);
      this.dispatch();
    });
  }

  // Resolves once nothing is queued or running.
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // Takes the scheduler out of the shared slots' turns (once it has nothing left to run).
  detach(): void {
    this.slots.unregister(this);
  }

  // Starts the next batch on a free slot the shared slots gave this scheduler.
  startOn(slot: number): void {
    this.start(slot, this.takeBatch());
  }

  private insert(job: Queued): void {
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.queue[mid]!.deadline <= job.deadline) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, job);
  }

  private dispatch(): void {
    this.slots.dispatch();
    if (this.queue.length > 0 && this.liveSlots === 0) {
      for (const job of this.queue.splice(0)) {
        job.reject(new ServingError('NOT_READY', 'no inference worker is alive', { retryAfterS: 5 }));
      }
    }
    this.notifyIfIdle();
  }

  // The head of the queue plus the queued jobs of the same subnet that can share its call; the batch runs as
  // the member point reading the most tokens (the one its latency is predicted and observed as).
  private takeBatch(): Batch {
    const head = this.queue.shift()!;
    const members = [head];
    const { latency, maxBatch } = this.options;
    const maxBatchMs = this.options.maxBatchMs ?? Number.POSITIVE_INFINITY;
    const subnet = head.point.subnetIndex;
    const shared = this.slots.clientCount > 1;
    const now = this.now();
    let point = head.point;
    let rows = head.texts;
    let tokens = head.tokens;
    let predicted = head.predictedMs;
    let earliest = head.deadline;
    for (let i = 0; i < this.queue.length && rows < maxBatch; ) {
      const job = this.queue[i]!;
      if (job.point.subnetIndex !== subnet || rows + job.texts > maxBatch) {
        i++;
        continue;
      }
      const longer = job.tokens > tokens ? job.point : point;
      const together = latency.predictMs(longer.index, rows + job.texts, Math.max(tokens, job.tokens));
      const meetsAll = now + together <= Math.min(earliest, job.deadline) && together <= maxBatchMs;
      // Past maxBatchMs, only a job that is late itself joins a late batch, and never while other models share
      // the slots: their requests would wait for the whole call.
      const lateAnyway =
        now + predicted > earliest &&
        together <= predicted + job.predictedMs &&
        (together <= maxBatchMs || (now + job.predictedMs > job.deadline && !shared));
      if (!meetsAll && !lateAnyway) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      members.push(job);
      point = longer;
      rows += job.texts;
      tokens = Math.max(tokens, job.tokens);
      predicted = together;
      earliest = Math.min(earliest, job.deadline);
    }
    return { point, members };
  }

  private start(slot: number, { point, members }: Batch): void {
    const batch: TokenBatch = padRows(
      members.flatMap((m) => m.rows),
      this.options.padId,
    );
    const predictedMs = this.options.latency.predictMs(point.index, batch.batch, batch.tokens);
    const startedAt = this.now();
    this.slots.occupy(slot, predictedMs);
    this.running++;
    let inferenceMs = 0;
    this.options.pool
      .run(slot, point.subnetIndex, batch)
      .then(
        (logits) => {
          inferenceMs = this.now() - startedAt;
          this.options.latency.observe(point.index, batch.batch, batch.tokens, inferenceMs);
          this.options.onBatch?.({
            point,
            texts: batch.batch,
            jobs: members.length,
            tokens: batch.tokens,
            inferenceMs,
            predictedMs,
          });
          const labels = this.options.numLabels;
          let row = 0;
          for (const m of members) {
            m.resolve({
              logits: logits.slice(row * labels, (row + m.texts) * labels),
              queueMs: startedAt - m.enqueuedAt,
              inferenceMs,
              batchTexts: batch.batch,
            });
            row += m.texts;
          }
        },
        (error: unknown) => {
          for (const m of members) m.reject(error);
        },
      )
      .finally(() => {
        this.running--;
        this.slots.release(slot, this, inferenceMs || this.now() - startedAt);
        this.dispatch();
      });
  }

  private notifyIfIdle(): void {
    if (this.queue.length > 0 || this.running > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
