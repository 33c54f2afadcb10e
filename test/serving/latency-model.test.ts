import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrateLatency, fitLine } from '../../serving/calibrate-latency.ts';
import { LatencyModel } from '../../serving/latency-model.ts';
import { CostTable } from '../../src/model/accounting.ts';
import { FIXTURE_ARCH, FIXTURE_POINTS } from './fixture.ts';

describe('latency model and calibration', () => {
  it('fits fixed + per-GFLOP cost by least squares, never negative', () => {
    const fit = fitLine([1, 2, 3], [3, 5, 7]);
    assert.ok(Math.abs(fit.fixedMs - 1) < 1e-9 && Math.abs(fit.msPerGflop - 2) < 1e-9);
    assert.deepEqual(fitLine([1, 2], [5, 3]), { fixedMs: 4, msPerGflop: 0 });
    const origin = fitLine([1, 2], [1, 5]);
    assert.equal(origin.fixedMs, 0);
    assert.ok(origin.msPerGflop > 0);
  });

  it('calibrates every point at three shapes within the budget, first round always', async () => {
    const costs = FIXTURE_POINTS.map((p) => new CostTable(FIXTURE_ARCH, p.subnet));
    const calls: Array<[number, number, number]> = [];
    let clock = 0;
    const result = await calibrateLatency({
      points: costs.map((cost, i) => ({ subnetIndex: i, tokens: FIXTURE_POINTS[i]!.tokens, cost })),
      // A host where a call costs 0.5 ms + 2 ms per MFLOP.
      run: async (_slot, subnet, batch) => {
        calls.push([subnet, batch.batch, batch.tokens]);
        assert.ok(batch.ids.every((id) => id >= 1000 && id < 30522));
        const ms = 0.5 + (2 * costs[subnet]!.flops(batch.batch, batch.tokens)) / 1e6;
        clock += ms;
        return ms;
      },
      budgetMs: 0,
      maxBatch: 16,
      firstId: 1000,
      vocabSize: 30522,
      now: () => clock,
    });
    assert.equal(result.rounds, 1);
    assert.equal(result.samples, 15);
    assert.equal(calls.length, 5 + 15);
    // Two slots share the points: each point is still timed at its three shapes.
    const slotsSeen = new Set<number>();
    const parallel = await calibrateLatency({
      points: costs.map((cost, i) => ({ subnetIndex: i, tokens: FIXTURE_POINTS[i]!.tokens, cost })),
      run: async (slot) => {
        slotsSeen.add(slot);
        return 1;
      },
      slots: 2,
      budgetMs: 0,
      maxBatch: 16,
      firstId: 1000,
      vocabSize: 30522,
    });
    assert.equal(parallel.samples, 15);
    assert.deepEqual([...slotsSeen].sort(), [0, 1]);
    for (const fit of result.fits) {
      assert.ok(Math.abs(fit.fixedMs - 0.5) < 1e-6, `${fit.fixedMs}`);
      assert.ok(Math.abs(fit.msPerGflop - 2000) < 1e-3, `${fit.msPerGflop}`);
    }
  });

  it('predicts calibrated x correction, and the correction follows observations within bounds', () => {
    const costs = [new CostTable(FIXTURE_ARCH, FIXTURE_POINTS[0]!.subnet)];
    const model = new LatencyModel(costs, [{ fixedMs: 1, msPerGflop: 0 }], 0.5);
    assert.equal(model.predictMs(0, 1, 16), 1);
    model.observe(0, 1, 16, 3);
    assert.equal(model.correction(0), 2);
    assert.equal(model.predictMs(0, 4, 16), 2);
    for (let i = 0; i < 60; i++) model.observe(0, 1, 16, 1000);
    assert.ok(model.correction(0) > 4.999 && model.correction(0) <= 5);
    const before = model.correction(0);
    model.observe(0, 1, 16, Number.NaN);
    assert.equal(model.correction(0), before);
  });

  it('adds headroom for the spread it observes to budget checks, not to predictions', () => {
    const costs = [new CostTable(FIXTURE_ARCH, FIXTURE_POINTS[0]!.subnet)];
    const model = new LatencyModel(costs, [{ fixedMs: 1, msPerGflop: 0 }], 0.5);
    assert.equal(model.spread(0), 0.2);
    assert.ok(Math.abs(model.budgetMs(0, 1, 16) - 1.3) < 1e-9);
    // Calls that land exactly on the prediction shrink the spread and the headroom with it.
    for (let i = 0; i < 20; i++) model.observe(0, 1, 16, 1);
    assert.ok(model.spread(0) < 1e-6);
    assert.ok(model.budgetMs(0, 1, 16) - model.predictMs(0, 1, 16) < 1e-6);
    // Jittery calls (0.5 and 1.5 ms around 1) widen it again.
    for (let i = 0; i < 20; i++) model.observe(0, 1, 16, i % 2 ? 1.5 : 0.5);
    assert.ok(model.spread(0) > 0.3, `spread ${model.spread(0)}`);
    assert.ok(model.budgetMs(0, 1, 16) > 1.4 * model.predictMs(0, 1, 16));
  });

  it('sizes the budget margin to the target quantile of how late recent fitting requests finished', () => {
    const costs = [new CostTable(FIXTURE_ARCH, FIXTURE_POINTS[0]!.subnet)];
    let clock = 0;
    const model = new LatencyModel(costs, [{ fixedMs: 1, msPerGflop: 0 }], 0.5, {
      targetQuantile: 0.9,
      now: () => clock,
    });
    // Before enough requests: the spread headroom, the same as the idle prediction.
    for (let i = 0; i < 63; i++) model.observeRequest(2, 2 + (i % 10));
    clock += 1000;
    assert.equal(model.marginMs, 0);
    assert.ok(Math.abs(model.budgetMs(0, 1, 16) - 1.3) < 1e-9);
    // Requests finished 0..9 ms late, evenly: 90% of them within about 9 ms.
    for (let i = 63; i < 1000; i++) model.observeRequest(2, 2 + (i % 10));
    assert.equal(model.marginMs, 9);
    assert.equal(model.budgetMs(0, 1, 16), model.predictMs(0, 1, 16) + 9);
    // The idle prediction, which decides what is impossible, keeps to the headroom.
    assert.ok(Math.abs(model.idleBudgetMs(0, 1, 16) - 1.3) < 1e-9);
    // A quieter host: requests now finish on time, and the margin follows within the window.
    for (let i = 0; i < 1024; i++) model.observeRequest(2, 2);
    assert.equal(model.marginMs, 0);
    // A burst of late answers, then nothing for a while: it ages out, and the headroom is back.
    for (let i = 0; i < 1024; i++) model.observeRequest(2, 50);
    assert.equal(model.marginMs, 48);
    clock += 31_000;
    assert.equal(model.marginMs, 0);
    assert.ok(Math.abs(model.budgetMs(0, 1, 16) - 1.3) < 1e-9);
    // Early answers never make the margin negative; bad numbers are ignored.
    for (let i = 0; i < 100; i++) model.observeRequest(5, 1);
    model.observeRequest(Number.NaN, 1);
    assert.equal(model.marginMs, 0);
  });

  it('keeps a margin per budget class, so that the target holds for each class and not only on average', () => {
    const costs = [new CostTable(FIXTURE_ARCH, FIXTURE_POINTS[0]!.subnet)];
    let clock = 0;
    const model = new LatencyModel(costs, [{ fixedMs: 1, msPerGflop: 0 }], 0.5, {
      targetQuantile: 0.9,
      now: () => clock,
    });
    const predicted = model.predictMs(0, 1, 16);
    // Many tight requests finish at most 1 ms late; a few middle ones (budget 7.5 ms) 3 to 6 ms late.
    for (let i = 0; i < 960; i++) model.observeRequest(2, 2 + (i % 100) / 100, 5);
    for (let i = 0; i < 64; i++) model.observeRequest(2, 5 + (i % 4), 7.5);
    clock += 1000;
    // Over every class, the 90th percentile is under 1 ms: with it, every middle request would be late.
    assert.ok(model.marginMs < 1);
    assert.ok(Math.abs(model.budgetMs(0, 1, 16, 5) - predicted - model.marginForMs(5)) < 1e-9);
    assert.ok(model.marginForMs(5) < 1);
    assert.equal(model.marginForMs(7.5), 6);
    assert.equal(model.budgetMs(0, 1, 16, 7.5), predicted + 6);
    // Budgets within a factor of about 1.4 share the class; a class without requests of its own (and a
    // request without a budget) takes the margin over every class.
    assert.equal(model.marginForMs(8), 6);
    assert.equal(model.marginForMs(100), model.marginMs);
    assert.equal(model.budgetMs(0, 1, 16), predicted + model.marginMs);
  });

  it('pulls the correction of a point that is not served toward the host-wide one', () => {
    const costs = [0, 1].map((k) => new CostTable(FIXTURE_ARCH, FIXTURE_POINTS[k]!.subnet));
    const model = new LatencyModel(
      costs,
      [
        { fixedMs: 1, msPerGflop: 0 },
        { fixedMs: 1, msPerGflop: 0 },
      ],
      0.5,
    );
    // Point 1 once ran 4x slow (a burst of contention) and is then never chosen again.
    for (let i = 0; i < 10; i++) model.observe(1, 1, 16, 4);
    assert.ok(model.correction(1) > 3.9);
    // The host is back to normal: point 0 runs as calibrated for a while.
    for (let i = 0; i < 200; i++) model.observe(0, 1, 16, 1);
    assert.ok(model.correction(1) < 1.2, `stale correction ${model.correction(1)}`);
    assert.ok(Math.abs(model.correction(0) - 1) < 1e-6);
  });

  it('gives points of one subnet one fit and one correction, so fewer tokens always predict less', () => {
    // Points 0 and 1 read one subnet to 64 and 128 tokens; point 2 is another subnet.
    const subnet = FIXTURE_POINTS[3]!.subnet;
    const costs = [subnet, subnet, FIXTURE_POINTS[1]!.subnet].map((s) => new CostTable(FIXTURE_ARCH, s));
    // Calibration noise: the 64-token point measured a higher fixed cost than its 128-token sibling.
    const fits = [
      { fixedMs: 0.9, msPerGflop: 1000 },
      { fixedMs: 0.5, msPerGflop: 1000 },
      { fixedMs: 2, msPerGflop: 500 },
    ];
    const separate = new LatencyModel(costs, fits, 0.5);
    assert.ok(separate.predictMs(0, 1, 64) > separate.predictMs(1, 1, 64));
    const grouped = new LatencyModel(costs, fits, 0.5, { groups: [7, 7, 3] });
    assert.deepEqual(grouped.fit(0), { fixedMs: 0.7, msPerGflop: 1000 });
    assert.deepEqual(grouped.fit(2), fits[2]);
    assert.equal(grouped.predictMs(0, 1, 64), grouped.predictMs(1, 1, 64));
    assert.ok(grouped.predictMs(0, 1, 64) < grouped.predictMs(1, 1, 128));
    // A call observed as one point corrects its sibling, not the other subnet.
    const before = grouped.predictMs(2, 1, 64);
    for (let i = 0; i < 5; i++) grouped.observe(0, 1, 64, 3 * grouped.calibratedMs(0, 1, 64));
    assert.ok(grouped.correction(1) > 2.5);
    assert.equal(grouped.correction(1), grouped.correction(0));
    assert.ok(grouped.predictMs(0, 1, 64) < grouped.predictMs(1, 1, 128));
    assert.ok(grouped.correction(2) < grouped.correction(0));
    assert.ok(grouped.predictMs(2, 1, 64) >= before);
    assert.throws(() => new LatencyModel(costs, fits, 0.5, { groups: [0, 0] }), RangeError);
  });
});
