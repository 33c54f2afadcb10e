import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CatalogPoint } from '../../loadtests/api-client.ts';
import { buildTrafficMix, pickBaselines } from '../../loadtests/traffic-mix.ts';

const point = (
  id: string,
  flops: number,
  calibratedLatencyMs: number,
  memoryBytes: number,
): CatalogPoint => ({
  id,
  config: { tokens: 32 },
  flops,
  memoryBytes,
  devAccuracy: 0.8,
  calibratedLatencyMs,
});

const CATALOG = [
  point('big-t256', 900, 11.2, 21e6),
  point('mid-t128', 300, 2.7, 18e6),
  point('small-t32', 10, 0.6, 16e6),
  point('mid2-t64', 200, 1.5, 17e6),
];

describe('buildTrafficMix', () => {
  it('picks the baselines by FLOPs', () => {
    const b = pickBaselines(CATALOG);
    assert.deepEqual([b.largest.id, b.middle.id, b.smallest.id], ['big-t256', 'mid2-t64', 'small-t32']);
  });

  it('derives ordered budgets from the calibrated latencies and the overhead, as plain decimal headers', () => {
    const mix = buildTrafficMix(CATALOG, 0.4);
    const byName = Object.fromEntries(mix.classes.map((c) => [c.name, c]));
    assert.equal(byName.tight?.latencyBudgetMs, 1.5);
    assert.equal(byName.medium?.latencyBudgetMs, 2.9);
    assert.equal(byName.loose?.latencyBudgetMs, 23.2);
    assert.deepEqual(byName.loose?.headers, { 'latency-budget-ms': '23.2' });
    assert.deepEqual(byName.memory?.headers, { 'memory-budget-mb': '16.22' });
    assert.deepEqual(byName.none?.headers, {});
    assert.deepEqual(
      mix.classes.filter((c) => c.inSlo).map((c) => c.name),
      ['tight', 'medium', 'loose'],
    );
    assert.ok(Math.abs(mix.classes.reduce((s, c) => s + c.weight, 0) - 1) < 1e-9);
  });

  it('floors the tight budget at 1.25 x the idle p99, and the others above it', () => {
    const byName = Object.fromEntries(buildTrafficMix(CATALOG, 0.4, 4.02).classes.map((c) => [c.name, c]));
    assert.equal(byName.tight?.latencyBudgetMs, 5.1);
    assert.equal(byName.medium?.latencyBudgetMs, 7.7);
    assert.equal(byName.loose?.latencyBudgetMs, 23.2);
  });

  it('takes given budgets (--budgets) instead of deriving them, and says so', () => {
    const mix = buildTrafficMix(CATALOG, 0.4, 4.02, [6, 9, 18]);
    const byName = Object.fromEntries(mix.classes.map((c) => [c.name, c]));
    assert.deepEqual(
      [byName.tight?.headers, byName.medium?.latencyBudgetMs, byName.loose?.latencyBudgetMs],
      [{ 'latency-budget-ms': '6.0' }, 9, 18],
    );
    assert.match(
      mix.derivation,
      /^tight 6 ms, medium 9 ms, loose 18 ms given \(--budgets; derived here: 5.1 \/ 7.7 \/ 23.2 ms\)/,
    );
  });

  it('keeps the latency classes apart when the catalog latencies are close', () => {
    const flat = [point('a-t32', 1, 1, 1e6), point('b-t32', 2, 1, 1e6), point('c-t32', 3, 1, 1e6)];
    const [tight, medium, loose] = buildTrafficMix(flat, 0).classes;
    assert.ok(tight && medium && loose);
    assert.ok(
      tight.latencyBudgetMs! < medium.latencyBudgetMs! && medium.latencyBudgetMs! < loose.latencyBudgetMs!,
    );
  });
});
