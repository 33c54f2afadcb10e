import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyModel } from '../../serving/latency-model.ts';
import {
  cheaperPoint,
  MIN_LATENCY_NOISE,
  type SelectionRequest,
  type SelectionTable,
  selectOperatingPoint,
  tieAt,
} from '../../serving/select-operating-point.ts';
import { CostTable } from '../../src/model/accounting.ts';
import { FIXTURE_ARCH, FIXTURE_POINTS } from './fixture.ts';

// The fixture catalog with a latency model of 0.1 ms per call plus 1 ms per MFLOP.
function table(): SelectionTable {
  const costs = FIXTURE_POINTS.map((p) => new CostTable(FIXTURE_ARCH, p.subnet));
  const latency = new LatencyModel(
    costs,
    costs.map(() => ({ fixedMs: 0.1, msPerGflop: 1000 })),
    0.2,
    // Exact predictions: these tests check queueing, memory and accuracy rules at the budget boundaries.
    { headroomSpreads: 0, stalePull: 0 },
  );
  const accuracy = FIXTURE_POINTS.map((p) => p.devAccuracy);
  return {
    order: accuracy.map((_, i) => i).sort((a, b) => accuracy[b]! - accuracy[a]!),
    accuracy,
    tokens: FIXTURE_POINTS.map((p) => p.tokens),
    costs,
    latency,
    tieTolerance: 0,
  };
}

const request = (overrides: Partial<SelectionRequest> = {}): SelectionRequest => ({
  texts: 1,
  longest: 64,
  elapsedMs: 0,
  waitMs: 0,
  latencyMs: undefined,
  memoryBytes: undefined,
  minAccuracy: undefined,
  mode: 'best-effort',
  pinned: undefined,
  ...overrides,
});

const LARGEST = 4;
const SMALLEST = 0;

describe('selectOperatingPoint', () => {
  const t = table();
  const predicted = (p: number, longest = 64) =>
    t.latency.overheadMs + t.latency.predictMs(p, 1, Math.min(longest, t.tokens[p]!));

  it('takes the most accurate point when nothing is asked', () => {
    const s = selectOperatingPoint(t, request());
    assert.deepEqual(s.kind === 'chosen' && [s.point, s.met], [LARGEST, true]);
  });

  it('serves requests without a latency budget at the cheapest fitting point once the server is backlogged', () => {
    const backlogged = { ...t, noBudgetBacklogMs: 1 };
    const chosen = (r: Partial<SelectionRequest>) => {
      const s = selectOperatingPoint(backlogged, request(r));
      return s.kind === 'chosen' ? s.point : -1;
    };
    // Up to the backlog, the most accurate; past it, the fastest.
    assert.equal(chosen({ waitMs: 1 }), LARGEST);
    assert.equal(chosen({ waitMs: 1.01 }), SMALLEST);
    // Past it, still within a memory budget and above an accuracy floor.
    assert.equal(chosen({ waitMs: 5, minAccuracy: 0.8 }), 2);
    const memory = t.costs[3]!.memoryBytes(1, 64);
    const fits = t.order.filter((p) => t.costs[p]!.memoryBytes(1, Math.min(64, t.tokens[p]!)) <= memory);
    const fastest = fits.reduce((a, b) => (predicted(b) < predicted(a) ? b : a));
    assert.equal(chosen({ waitMs: 5, memoryBytes: memory }), fastest);
    // A latency budget is served as always (its deadline already ranks it), and without the setting nothing changes.
    assert.equal(chosen({ waitMs: 5, latencyMs: 1e6 }), LARGEST);
    const unset = selectOperatingPoint(t, request({ waitMs: 1e6 }));
    assert.equal(unset.kind === 'chosen' && unset.point, LARGEST);
  });

  it('breaks accuracy ties within the tolerance toward the faster point, never below a floor', () => {
    const tied = { ...t, tieTolerance: 0.07 };
    // 0.88 and 0.82 are within 0.07: the faster (point 3) wins; 0.80 and 0.78 are past the tie.
    const free = selectOperatingPoint(tied, request());
    assert.deepEqual(free.kind === 'chosen' && [free.point, free.met], [3, true]);
    assert.ok(predicted(3) < predicted(LARGEST));
    // A floor above the faster point's accuracy keeps the most accurate one.
    const floored = selectOperatingPoint(tied, request({ minAccuracy: 0.85 }));
    assert.equal(floored.kind === 'chosen' && floored.point, LARGEST);
    // Under a budget, the tie is counted from the most accurate point that fits, among the points that fit.
    const budget = predicted(2) + 1e-6;
    const s = selectOperatingPoint(tied, request({ latencyMs: budget }));
    assert.ok(s.kind === 'chosen' && s.met);
    const fitting = t.order.filter((p) => predicted(p) <= budget);
    const top = Math.max(...fitting.map((p) => t.accuracy[p]!));
    const inTie = fitting.filter((p) => t.accuracy[p]! >= top - 0.07);
    assert.equal(
      s.kind === 'chosen' && s.point,
      inTie.reduce((a, b) => (predicted(b) < predicted(a) ? b : a)),
    );
  });

  it('breaks ties by FLOPs for the request, not by latency noise: perturbed calibrations choose alike', () => {
    const tied = { ...t, tieTolerance: 1 };
    const flops = (p: number, longest: number) => t.costs[p]!.flops(1, Math.min(longest, t.tokens[p]!));
    // Calibrations of the same catalog whose per-call figures differ by up to +-9% (a noisy host), and whose
    // fixed cost dominates short texts so that latency barely tells the points apart.
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const perturbed = () => {
      const latency = new LatencyModel(
        t.costs,
        t.costs.map(() => ({
          fixedMs: 0.5 * (0.91 + 0.18 * random()),
          msPerGflop: 20 * (0.91 + 0.18 * random()),
        })),
        0.2,
        { headroomSpreads: 0, stalePull: 0 },
      );
      return { ...tied, latency };
    };
    for (const longest of [4, 8, 16, 64, 128]) {
      const choices = new Set<number>();
      for (let run = 0; run < 20; run++) {
        const s = selectOperatingPoint(perturbed(), request({ longest }));
        assert.ok(s.kind === 'chosen' && s.met);
        choices.add(s.point);
      }
      assert.equal(choices.size, 1, `longest ${longest}: ${[...choices]}`);
      const fewest = Math.min(...t.order.map((p) => flops(p, longest)));
      assert.equal(flops([...choices][0]!, longest), fewest);
    }
  });

  it('lets latency decide only when it separates points by more than its noise', () => {
    const costs = t.costs;
    // The point with the fewest FLOPs predicted three times slower than the largest: latency decides.
    const fits = costs.map(() => ({ fixedMs: 0.1, msPerGflop: 1 }));
    fits[SMALLEST] = { fixedMs: 30, msPerGflop: 1 };
    const skewed = { ...t, tieTolerance: 1, latency: new LatencyModel(costs, fits, 0.2, { stalePull: 0 }) };
    const s = selectOperatingPoint(skewed, request({ longest: 16 }));
    assert.ok(s.kind === 'chosen');
    assert.notEqual(s.point, SMALLEST);
    // Within the noise, FLOPs decide: a is cheaper than b when 5% faster but with more FLOPs only if they separate.
    const noise = MIN_LATENCY_NOISE;
    assert.equal(cheaperPoint(t, 0, 1, 10, 1, 1.05, 5), false);
    assert.equal(cheaperPoint(t, 0, 1, 10, 1, ((1 + noise) / (1 - noise)) * 1.01, 5), true);
    assert.equal(cheaperPoint(t, 0, 1, 5, 1, 1, 10), true);
    // Equal FLOPs and predictions: neither, so the first in the catalog order stays.
    assert.equal(cheaperPoint(t, 0, 1, 5, 1, 1, 5), false);
    assert.equal(cheaperPoint(t, 1, 1, 5, 0, 1, 5), false);
  });

  it('widens the tie with the engine utilization (loadTrade), from the tie tolerance up to the trade', () => {
    const traded = { ...t, tieTolerance: 0.01, loadTrade: { from: 0.5, to: 0.9, accuracy: 0.2 } };
    assert.equal(tieAt(traded, 0), 0.01);
    assert.equal(tieAt(traded, 0.5), 0.01);
    assert.ok(Math.abs(tieAt(traded, 0.7) - 0.11) < 1e-12);
    assert.ok(Math.abs(tieAt(traded, 0.9) - 0.21) < 1e-12);
    assert.equal(tieAt(traded, 1), tieAt(traded, 0.9));
    assert.equal(tieAt(t, 1), 0);
    const chosen = (r: Partial<SelectionRequest>) => {
      const s = selectOperatingPoint(traded, request(r));
      return s.kind === 'chosen' ? [s.point, s.met] : s.kind;
    };
    // Idle: the most accurate. Busy: a tie of 0.07 reaches 0.82 (point 3), faster. Saturated: the fastest of all.
    assert.deepEqual(chosen({ utilization: 0.2 }), [LARGEST, true]);
    assert.deepEqual(chosen({ utilization: 0.62 }), [3, true]);
    assert.deepEqual(chosen({ utilization: 1 }), [SMALLEST, true]);
    // Never below an accuracy floor, nor past a budget.
    assert.deepEqual(chosen({ utilization: 1, minAccuracy: 0.79 }), [2, true]);
    const memory = t.costs[3]!.memoryBytes(1, 64);
    const s = selectOperatingPoint(
      traded,
      request({ utilization: 1, memoryBytes: memory, minAccuracy: 0.8 }),
    );
    assert.ok(s.kind === 'chosen' && s.met && t.accuracy[s.point]! >= 0.8);
    assert.ok(
      s.kind === 'chosen' && t.costs[s.point]!.memoryBytes(1, Math.min(64, t.tokens[s.point]!)) <= memory,
    );
  });

  it('takes the most accurate point that fits a latency budget, smaller for a tighter one', () => {
    const chosen = (latencyMs: number) => {
      const s = selectOperatingPoint(t, request({ latencyMs }));
      assert.equal(s.kind, 'chosen');
      return s.kind === 'chosen' ? s : undefined!;
    };
    const loose = chosen(1000);
    const tight = chosen(predicted(SMALLEST) + 0.001);
    assert.equal(loose.point, LARGEST);
    assert.equal(tight.point, SMALLEST);
    assert.ok(tight.met);
    // Every point's own prediction selects it or a more accurate one.
    for (const p of t.order) {
      const s = chosen(predicted(p) + 1e-9);
      assert.ok(t.accuracy[s.point]! >= t.accuracy[p]!, `budget of point ${p} chose ${s.point}`);
      assert.ok(s.expectedMs <= predicted(p) + 1e-9);
    }
  });

  it('counts the expected queueing: the same budget gets a smaller point when there is a queue', () => {
    const budget = predicted(LARGEST) + 0.01;
    const idle = selectOperatingPoint(t, request({ latencyMs: budget }));
    const busy = selectOperatingPoint(
      t,
      request({ latencyMs: budget, waitMs: predicted(LARGEST) - predicted(SMALLEST) }),
    );
    assert.ok(idle.kind === 'chosen' && busy.kind === 'chosen');
    assert.equal(idle.point, LARGEST);
    assert.notEqual(busy.point, LARGEST);
    assert.ok(busy.expectedMs <= budget);
  });

  it('short texts make long-token points cheaper (tokens are the request, capped by the point)', () => {
    const long = selectOperatingPoint(t, request({ latencyMs: predicted(LARGEST, 64) - 0.001 }));
    const short = selectOperatingPoint(t, request({ longest: 8, latencyMs: predicted(LARGEST, 64) - 0.001 }));
    assert.ok(long.kind === 'chosen' && short.kind === 'chosen');
    assert.notEqual(long.point, LARGEST);
    assert.equal(short.point, LARGEST);
    assert.equal(short.tokens, 8);
  });

  it('takes the most accurate point within a memory budget, and one that meets an accuracy floor', () => {
    const memories = t.costs.map((c, p) => c.memoryBytes(1, Math.min(64, t.tokens[p]!)));
    for (const budget of memories) {
      const s = selectOperatingPoint(t, request({ memoryBytes: budget }));
      const fitting = t.order.filter((p) => memories[p]! <= budget);
      assert.ok(s.kind === 'chosen' && s.met);
      assert.equal(s.point, fitting[0]);
    }
    const a = selectOperatingPoint(t, request({ minAccuracy: 0.8, latencyMs: predicted(2) + 1e-6 }));
    assert.ok(a.kind === 'chosen' && a.met);
    assert.ok(t.accuracy[a.point]! >= 0.8);
  });

  it('strict: 422 (impossible) for a memory budget below the smallest point, best-effort: closest, met false', () => {
    const strict = selectOperatingPoint(t, request({ memoryBytes: 1024, mode: 'strict' }));
    assert.equal(strict.kind, 'impossible');
    assert.match(strict.kind === 'impossible' ? strict.reason : '', /memory budget/);
    const best = selectOperatingPoint(t, request({ memoryBytes: 1024 }));
    assert.ok(best.kind === 'chosen');
    assert.equal(best.met, false);
    const memories = t.costs.map((c, p) => c.memoryBytes(1, Math.min(64, t.tokens[p]!)));
    assert.equal(memories[best.point], Math.min(...memories));
  });

  it('strict: not now (503) when a point fits an idle server but not the current queue', () => {
    const latencyMs = predicted(SMALLEST) + 0.01;
    const idle = selectOperatingPoint(t, request({ latencyMs, mode: 'strict' }));
    assert.ok(idle.kind === 'chosen' && idle.point === SMALLEST);
    const busy = selectOperatingPoint(t, request({ latencyMs, mode: 'strict', waitMs: 50 }));
    assert.equal(busy.kind, 'not-now');
    assert.equal(busy.kind === 'not-now' && busy.retryAfterMs, 50);
    const never = selectOperatingPoint(t, request({ latencyMs: 0.001, mode: 'strict' }));
    assert.equal(never.kind, 'impossible');
  });

  it('says why a budget is impossible with the figure the decision used, "cannot meet" when pinned', () => {
    const never = selectOperatingPoint(t, request({ latencyMs: 0.001, mode: 'strict' }));
    assert.ok(never.kind === 'impossible');
    const figure = Number(/the fastest needs ([\d.]+) ms on an idle server/.exec(never.reason)?.[1]);
    assert.match(never.reason, /^no operating point can meet latency budget 0\.001 ms/);
    // Just under that figure is impossible, just over it is not (a point fits an idle server).
    const under = selectOperatingPoint(t, request({ latencyMs: figure - 0.01, mode: 'strict' }));
    const over = selectOperatingPoint(t, request({ latencyMs: figure + 0.01, mode: 'strict' }));
    assert.equal(under.kind, 'impossible');
    assert.notEqual(over.kind, 'impossible');
    const pinned = selectOperatingPoint(
      t,
      request({ pinned: LARGEST, latencyMs: 0.3, mode: 'strict', memoryBytes: 1024 }),
    );
    assert.ok(pinned.kind === 'impossible');
    assert.match(
      pinned.reason,
      /^the pinned operating point cannot meet latency budget 0\.3 ms \(it needs [\d.]+ ms on an idle server, headroom for its spread included\), memory budget 0\.001 MiB \(it needs [\d.]+ MiB\) together, even on an idle server$/,
    );
  });

  it('strict: an accuracy floor above the catalog is impossible', () => {
    assert.equal(selectOperatingPoint(t, request({ minAccuracy: 0.99, mode: 'strict' })).kind, 'impossible');
    const best = selectOperatingPoint(t, request({ minAccuracy: 0.99 }));
    assert.ok(best.kind === 'chosen' && best.point === LARGEST && !best.met);
  });

  it('judges only a pinned point', () => {
    const s = selectOperatingPoint(t, request({ pinned: SMALLEST }));
    assert.ok(s.kind === 'chosen' && s.point === SMALLEST && s.met);
    const missed = selectOperatingPoint(t, request({ pinned: LARGEST, latencyMs: 0.001 }));
    assert.ok(missed.kind === 'chosen' && missed.point === LARGEST && !missed.met);
    const strict = selectOperatingPoint(t, request({ pinned: LARGEST, latencyMs: 0.001, mode: 'strict' }));
    assert.equal(strict.kind, 'impossible');
  });
});
