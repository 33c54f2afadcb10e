import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClassStats, type Observation } from '../../loadtests/class-stats.ts';

const ok = (clientMs: number, serverMs: number, extra: Partial<Observation> = {}): Observation => ({
  status: 200,
  clientMs,
  serverMs,
  queueMs: 0.5,
  inferenceMs: 1,
  subnet: 'a-t16',
  accuracy: 0.8,
  memoryBytes: 1024 * 1024,
  budgetMet: true,
  ...extra,
});

describe('ClassStats', () => {
  it('judges latency budgets on the server time and counts refusals and errors apart', (t) => {
    const stats = new ClassStats({ name: 'tight', latencyBudgetMs: 5, memoryBudgetMb: undefined });
    t.after(() => stats.destroy());
    stats.record(ok(4, 3));
    stats.record(ok(6, 4.5, { subnet: 'b-t32', accuracy: 0.9 }));
    stats.record(ok(9, 8, { budgetMet: false }));
    stats.record({ ...ok(1, 1), status: 503 });
    stats.record({ ...ok(1, 1), status: 500 });
    const r = stats.summarize(2);
    assert.equal(r.count, 5);
    assert.equal(r.okCount, 3);
    assert.equal(r.attainment, 2 / 5);
    assert.equal(r.attainmentClient, 1 / 5);
    assert.equal(r.reportedMet, 2 / 3);
    assert.equal(r.refused, 1 / 5);
    assert.equal(r.refusedCount, 1);
    assert.equal(r.errorCount, 1);
    assert.ok(Math.abs(r.meanAccuracy! - 2.5 / 3) < 1e-12);
    assert.deepEqual(r.subnets, { 'a-t16': 2, 'b-t32': 1 });
    assert.equal(r.throughputRps, 1.5);
    // hdr histograms keep three significant digits.
    assert.ok(Math.abs(r.p50Ms! - 6) < 0.01);
    assert.ok(Math.abs(r.maxMs! - 9) < 0.01);
  });

  it('judges a memory budget on the memory of the operating point served', (t) => {
    const stats = new ClassStats({ name: 'memory', latencyBudgetMs: undefined, memoryBudgetMb: 1.5 });
    t.after(() => stats.destroy());
    stats.record(ok(100, 100, { memoryBytes: 1.4 * 1024 * 1024 }));
    stats.record(ok(1, 1, { memoryBytes: 1.6 * 1024 * 1024 }));
    assert.equal(stats.summarize(1).attainment, 0.5);
  });

  it('has no percentiles when nothing was answered', (t) => {
    const stats = new ClassStats({ name: 'none', latencyBudgetMs: undefined, memoryBudgetMb: undefined });
    t.after(() => stats.destroy());
    const r = stats.summarize(1);
    assert.equal(r.p99Ms, null);
    assert.equal(r.attainment, null);
    assert.equal(r.meanAccuracy, null);
  });
});
