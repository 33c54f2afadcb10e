import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineSlots } from '../../serving/engine-slots.ts';
import type { InferencePool } from '../../serving/inference-pool.ts';
import { LatencyModel } from '../../serving/latency-model.ts';
import { type JobOutcome, Scheduler, UTILIZATION_WINDOW_MS } from '../../serving/scheduler.ts';
import type { ServedPoint } from '../../serving/served-point.ts';
import { ServingError } from '../../serving/serving-error.ts';
import { CostTable } from '../../src/model/accounting.ts';
import { formatOperatingPointId, formatSubnetId } from '../../src/model/config.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import { FIXTURE_ARCH, FIXTURE_POINTS } from './fixture.ts';

interface Call {
  slot: number;
  subnet: number;
  batch: TokenBatch;
  finish(): void;
}

// A pool whose calls finish when the test says so; logits are the row's first token id, per label.
class ManualPool implements InferencePool {
  readonly slots: number;
  readonly calls: Call[] = [];
  dead = new Set<number>();

  constructor(slots: number) {
    this.slots = slots;
  }

  isAlive(slot: number): boolean {
    return !this.dead.has(slot);
  }

  run(slot: number, subnet: number, batch: TokenBatch): Promise<Float32Array> {
    return new Promise((resolve) => {
      const logits = new Float32Array(batch.batch * 2);
      for (let r = 0; r < batch.batch; r++) logits.fill(batch.ids[r * batch.tokens + 1]!, r * 2, r * 2 + 2);
      this.calls.push({ slot, subnet, batch, finish: () => resolve(logits) });
    });
  }

  async stats() {
    return [];
  }

  async dispose() {}
}

// Slots, a pool and a clock that several schedulers (models) share.
interface Shared {
  pool: ManualPool;
  slots: EngineSlots;
  clock: { ms: number };
}

function setup(
  slots = 1,
  options: {
    maxBatch?: number;
    maxBatchMs?: number;
    maxQueue?: number;
    subnetOfPoint?: number[];
    shared?: Shared;
  } = {},
) {
  const clock = options.shared?.clock ?? { ms: 1000 };
  const pool = options.shared?.pool ?? new ManualPool(slots);
  const packed: Array<{ point: number; tokens: number }> = [];
  const costs = FIXTURE_POINTS.map((p) => new CostTable(FIXTURE_ARCH, p.subnet));
  const latency = new LatencyModel(
    costs,
    costs.map(() => ({ fixedMs: 1, msPerGflop: 1000 })),
    0.5,
    // Exact predictions: these tests check queueing, memory and accuracy rules at the budget boundaries.
    { headroomSpreads: 0, stalePull: 0 },
  );
  // Points as serving builds them, with the subnet each runs (points of one subnet share engine calls).
  const points: ServedPoint[] = FIXTURE_POINTS.map((p, index) => {
    const id = formatOperatingPointId(p);
    const cost = costs[index]!;
    return {
      index,
      id,
      entry: { ...p, id, params: cost.params, flops: cost.flops(1, 128), referenceTokens: 128 },
      subnetId: formatSubnetId(p.subnet),
      precision: 'fp32',
      subnetIndex: options.subnetOfPoint?.[index] ?? index,
      cost,
    };
  });
  const scheduler = new Scheduler({
    pool,
    latency,
    padId: 0,
    numLabels: 2,
    maxBatch: options.maxBatch ?? 8,
    ...(options.maxBatchMs === undefined ? {} : { maxBatchMs: options.maxBatchMs }),
    maxQueue: options.maxQueue ?? 100,
    ...(options.shared ? { slots: options.shared.slots } : {}),
    now: () => clock.ms,
    onBatch: (report) => packed.push({ point: report.point.index, tokens: report.tokens }),
  });
  // Each row is [CLS] id ... [SEP], `tokens` long: the id tells which job it came from.
  const job = (point: number, id: number, deadline: number, texts = 1, tokens = 3) => ({
    point: points[point]!,
    rows: Array.from({ length: texts }, () => ({
      ids: Int32Array.from({ length: tokens }, (_, i) => (i === 0 ? 101 : i === tokens - 1 ? 102 : id)),
    })),
    tokens,
    deadline,
  });
  return {
    pool,
    packed,
    latency,
    scheduler,
    job,
    advance: (ms: number) => {
      clock.ms += ms;
    },
    now: () => clock.ms,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Scheduler', () => {
  it('shares the slots between models: a flood to one takes only the turns the other leaves', async () => {
    const pool = new ManualPool(1);
    const clock = { ms: 1000 };
    const shared: Shared = { pool, slots: new EngineSlots(pool, () => clock.ms), clock };
    const flooded = setup(1, { shared, maxBatch: 1 });
    const light = setup(1, { shared, maxBatch: 1 });
    const floods = Array.from({ length: 10 }, (_, i) =>
      flooded.scheduler.submit(flooded.job(0, 10 + i, clock.ms + 50)),
    );
    assert.equal(pool.calls.length, 1);
    // The light model's job has a later deadline than every queued flood job, yet runs on the next free slot.
    const lightDone = light.scheduler.submit(light.job(0, 99, clock.ms + 500));
    assert.ok(light.scheduler.expectedWaitMs(clock.ms + 500) > 0);
    flooded.advance(2);
    pool.calls[0]!.finish();
    await tick();
    assert.equal(pool.calls.length, 2);
    assert.equal(pool.calls[1]!.batch.ids[1], 99);
    pool.calls[1]!.finish();
    assert.deepEqual([...(await lightDone).logits], [99, 99]);
    // With the light model idle, the flood has every slot again.
    for (let i = 2; i <= 10; i++) {
      await tick();
      assert.equal(pool.calls.length, i + 1);
      pool.calls[i]!.finish();
    }
    assert.equal((await Promise.all(floods)).length, 10);
    // Both models' calls count in the engine's utilization, which each scheduler reports.
    assert.equal(flooded.scheduler.utilization(), light.scheduler.utilization());
  });

  it('gives a free slot to the model that used the engine least lately', async () => {
    const pool = new ManualPool(1);
    const clock = { ms: 1000 };
    const shared: Shared = { pool, slots: new EngineSlots(pool, () => clock.ms), clock };
    const a = setup(1, { shared, maxBatch: 1 });
    const b = setup(1, { shared, maxBatch: 1 });
    // A runs a long call; B and A then both wait for the slot.
    const first = a.scheduler.submit(a.job(0, 1, clock.ms + 1000));
    const aNext = a.scheduler.submit(a.job(0, 2, clock.ms + 10));
    const bNext = b.scheduler.submit(b.job(0, 3, clock.ms + 900));
    clock.ms += 40;
    pool.calls[0]!.finish();
    await first;
    await tick();
    // B has used nothing, A 40 ms: B goes first although A's job is more urgent.
    assert.equal(pool.calls[1]!.batch.ids[1], 3);
    pool.calls[1]!.finish();
    await bNext;
    await tick();
    assert.equal(pool.calls[2]!.batch.ids[1], 2);
    pool.calls[2]!.finish();
    await aNext;
  });

  it('runs a job at once on a free slot and returns its own logits, queue and inference time', async () => {
    const { pool, scheduler, job, advance } = setup();
    const done = scheduler.submit(job(0, 7, 2000));
    assert.equal(pool.calls.length, 1);
    advance(3);
    pool.calls[0]!.finish();
    const outcome = await done;
    assert.deepEqual([...outcome.logits], [7, 7]);
    assert.equal(outcome.queueMs, 0);
    assert.equal(outcome.inferenceMs, 3);
    assert.equal(outcome.batchTexts, 1);
  });

  it('serves the queue earliest deadline first and batches queued jobs of the same point', async () => {
    const { pool, scheduler, job, now } = setup();
    const first = scheduler.submit(job(0, 1, now() + 5000));
    const late = scheduler.submit(job(1, 2, now() + 9000));
    const urgentA = scheduler.submit(job(2, 3, now() + 100));
    const urgentB = scheduler.submit(job(2, 4, now() + 200));
    assert.equal(scheduler.queueLength, 3);
    pool.calls[0]!.finish();
    await first;
    await tick();
    // The two urgent jobs share point 2: one call of two rows, before the late one.
    assert.equal(pool.calls.length, 2);
    assert.equal(pool.calls[1]!.subnet, 2);
    assert.equal(pool.calls[1]!.batch.batch, 2);
    pool.calls[1]!.finish();
    const [a, b] = await Promise.all([urgentA, urgentB]);
    assert.deepEqual([a.logits[0], b.logits[0], a.batchTexts], [3, 4, 2]);
    await tick();
    assert.equal(pool.calls[2]!.subnet, 1);
    pool.calls[2]!.finish();
    await late;
  });

  it('batches jobs of different points that run one subnet, each row cut to its own tokens', async () => {
    // Points 1 and 2 run subnet 1 (as two token lengths of one subnet do); point 0 runs subnet 0.
    const { pool, packed, scheduler, job, latency, now } = setup(1, { subnetOfPoint: [0, 1, 1, 2, 3] });
    const blocker = scheduler.submit(job(4, 1, now() + 5000));
    const short = scheduler.submit(job(1, 2, now() + 5000, 2, 3));
    const other = scheduler.submit(job(0, 3, now() + 5000));
    const long = scheduler.submit(job(2, 4, now() + 5000, 1, 7));
    const [asLong, asShort] = [latency.predictMs(2, 3, 7), latency.predictMs(1, 3, 7)];
    pool.calls[0]!.finish();
    await blocker;
    await tick();
    // One call on subnet 1 for both points: three rows, cut to 3, 3 and 7 tokens, run as point 2 (the longer).
    assert.equal(pool.calls[1]!.subnet, 1);
    assert.equal(pool.calls[1]!.batch.batch, 3);
    const { batch } = pool.calls[1]!;
    const rowLengths = [0, 1, 2].map((r) => batch.mask.subarray(r * 7, r * 7 + 7).reduce((a, b) => a + b, 0));
    assert.deepEqual([batch.tokens, ...rowLengths], [7, 3, 3, 7]);
    pool.calls[1]!.finish();
    const [a, b] = await Promise.all([short, long]);
    assert.deepEqual([a.logits.length, a.logits[0], b.logits[0], b.batchTexts], [4, 2, 4, 3]);
    // The call corrected point 2's latency (the one it ran as), not point 1's.
    assert.deepEqual(packed[1], { point: 2, tokens: 7 });
    assert.notEqual(latency.predictMs(2, 3, 7), asLong);
    assert.equal(latency.predictMs(1, 3, 7), asShort);
    await tick();
    assert.equal(pool.calls[2]!.subnet, 0);
    pool.calls[2]!.finish();
    await other;
  });

  it('does not batch a job whose deadline the bigger batch would miss', async () => {
    const { pool, scheduler, job, latency, now, advance } = setup();
    const blocker = scheduler.submit(job(4, 1, now() + 5000));
    const single = latency.predictMs(4, 1, 3);
    const double = latency.predictMs(4, 2, 3);
    assert.ok(double > single);
    // Due between the end of a single call and the end of a double one, once the blocker is done.
    const tight = scheduler.submit(job(4, 2, now() + single + (single + double) / 2));
    const loose = scheduler.submit(job(4, 3, now() + 5000));
    advance(single);
    pool.calls[0]!.finish();
    await blocker;
    await tick();
    assert.equal(pool.calls[1]!.batch.batch, 1);
    pool.calls[1]!.finish();
    await tight;
    await tick();
    pool.calls[2]!.finish();
    await loose;
  });

  it('caps a batch at maxBatch texts', async () => {
    const { pool, scheduler, job, now } = setup(1, { maxBatch: 3 });
    const jobs = [scheduler.submit(job(0, 1, now() + 9000))];
    for (let i = 0; i < 5; i++) jobs.push(scheduler.submit(job(0, 10 + i, now() + 9000)));
    pool.calls[0]!.finish();
    await tick();
    assert.equal(pool.calls[1]!.batch.batch, 3);
    pool.calls[1]!.finish();
    await tick();
    assert.equal(pool.calls[2]!.batch.batch, 2);
    pool.calls[2]!.finish();
    await Promise.all(jobs);
  });

  it('builds batches of jobs on time up to maxBatchMs, and past it only with jobs late anyway', async () => {
    const probe = setup();
    const [one, two, three] = [1, 2, 3].map((rows) => probe.latency.predictMs(0, rows, 3));
    // Room for two rows of point 0, not three.
    const { pool, scheduler, job, now, advance } = setup(1, { maxBatchMs: (two! + three!) / 2 });
    const jobs = [scheduler.submit(job(0, 1, now() + 9000))];
    for (let i = 0; i < 3; i++) jobs.push(scheduler.submit(job(0, 10 + i, now() + 9000)));
    // Each call takes what was predicted, so that the latency model's correction stays at 1.
    advance(one!);
    pool.calls[0]!.finish();
    await tick();
    assert.equal(pool.calls[1]!.batch.batch, 2);
    // Late jobs catch up in one call past the cap, as three separate calls would cost more.
    for (let i = 0; i < 3; i++) jobs.push(scheduler.submit(job(0, 20 + i, now() + one!)));
    advance(two!);
    pool.calls[1]!.finish();
    await tick();
    assert.equal(pool.calls[2]!.batch.batch, 3);
    assert.deepEqual(
      [...pool.calls[2]!.batch.ids].filter((id) => id >= 10 && id < 30),
      [20, 21, 22],
    );
    advance(three!);
    pool.calls[2]!.finish();
    await tick();
    // The job on time did not join the late call past the cap: it runs alone.
    assert.equal(pool.calls[3]!.batch.batch, 1);
    assert.equal(pool.calls[3]!.batch.ids[1], 12);
    pool.calls[3]!.finish();
    await Promise.all(jobs);
  });

  it('tracks the busy share of its slots, smoothed over UTILIZATION_WINDOW_MS', async () => {
    const { pool, scheduler, job, now, advance } = setup(2);
    assert.equal(scheduler.utilization(), 0);
    // One of two slots busy for a long time: the share converges to one half.
    const running = scheduler.submit(job(0, 1, now() + 1e6));
    advance(10 * UTILIZATION_WINDOW_MS);
    assert.ok(Math.abs(scheduler.utilization() - 0.5) < 1e-3, String(scheduler.utilization()));
    // Both busy for one time constant: from 1/2 towards 1 by 1 - 1/e of the way.
    const other = scheduler.submit(job(1, 2, now() + 1e6));
    advance(UTILIZATION_WINDOW_MS);
    const expected = 1 - 0.5 / Math.E;
    assert.ok(Math.abs(scheduler.utilization() - expected) < 1e-3, String(scheduler.utilization()));
    pool.calls[0]!.finish();
    pool.calls[1]!.finish();
    await Promise.all([running, other]);
    // Idle again: it decays towards 0.
    advance(10 * UTILIZATION_WINDOW_MS);
    assert.ok(scheduler.utilization() < 1e-3);
  });

  it('keeps every slot busy', async () => {
    const { pool, scheduler, job, now } = setup(2);
    const jobs = [0, 1, 2].map((p) => scheduler.submit(job(p, p, now() + 1000)));
    assert.deepEqual(
      pool.calls.map((c) => c.slot),
      [0, 1],
    );
    pool.calls[1]!.finish();
    await tick();
    assert.equal(pool.calls[2]!.slot, 1);
    for (const c of pool.calls) c.finish();
    await Promise.all(jobs);
  });

  it('expects the queue ahead (earlier deadlines) plus what running calls have left', async () => {
    const { pool, scheduler, job, latency, now, advance } = setup();
    assert.equal(scheduler.expectedWaitMs(now() + 100), 0);
    const running = scheduler.submit(job(4, 1, now() + 1000));
    const p4 = latency.predictMs(4, 1, 3);
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);
    close(scheduler.expectedWaitMs(now() + 100), p4);
    advance(p4 / 2);
    close(scheduler.expectedWaitMs(now() + 100), p4 / 2);
    const queued = scheduler.submit(job(0, 2, now() + 500));
    const p0 = latency.predictMs(0, 1, 3);
    close(scheduler.expectedWaitMs(now() + 100), p4 / 2);
    close(scheduler.expectedWaitMs(now() + 600), p4 / 2 + p0);
    pool.calls[0]!.finish();
    await running;
    await tick();
    pool.calls[1]!.finish();
    await queued;
  });

  it('corrects the latency model from what it observes', async () => {
    const { pool, scheduler, job, latency, now, advance } = setup();
    const predicted = latency.predictMs(3, 1, 3);
    const done = scheduler.submit(job(3, 1, now() + 1000));
    advance(predicted * 3);
    pool.calls[0]!.finish();
    await done;
    assert.ok(latency.correction(3) > 1.5, `correction ${latency.correction(3)}`);
    assert.ok(latency.predictMs(3, 1, 3) > predicted * 1.5);
    assert.equal(latency.correction(2), 1);
  });

  it('refuses with OVERLOADED and a Retry-After when the queue is full', async () => {
    const { pool, scheduler, job, now } = setup(1, { maxQueue: 2 });
    const accepted = [0, 1, 2].map((i) => scheduler.submit(job(1, i, now() + 1000)));
    assert.throws(
      () => scheduler.submit(job(1, 9, now() + 1000)),
      (e: unknown) => e instanceof ServingError && e.code === 'OVERLOADED' && (e.retryAfterS ?? 0) >= 1,
    );
    pool.calls[0]!.finish();
    await tick();
    pool.calls[1]!.finish();
    await Promise.all(accepted);
  });

  it('resolves whenIdle once queued and running work is done', async () => {
    const { pool, scheduler, job, now } = setup();
    let idle = false;
    const jobs: Promise<JobOutcome>[] = [
      scheduler.submit(job(0, 1, now() + 10)),
      scheduler.submit(job(1, 2, now() + 10)),
    ];
    const waiting = scheduler.whenIdle().then(() => {
      idle = true;
    });
    pool.calls[0]!.finish();
    await tick();
    assert.equal(idle, false);
    pool.calls[1]!.finish();
    await Promise.all(jobs);
    await waiting;
    assert.equal(idle, true);
  });

  it('fails queued work when no slot is alive', async () => {
    const { pool, scheduler, job, now } = setup(1);
    const running = scheduler.submit(job(0, 1, now() + 10));
    const queued = scheduler.submit(job(0, 2, now() + 10));
    pool.dead.add(0);
    pool.calls[0]!.finish();
    await running;
    await assert.rejects(queued, (e: unknown) => e instanceof ServingError && e.code === 'NOT_READY');
    assert.equal(scheduler.expectedWaitMs(now()), Number.POSITIVE_INFINITY);
  });
});
