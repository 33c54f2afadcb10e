import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheBudget } from '../../../src/engine/cache-budget.ts';
import type { Engine, LoadedSubnet } from '../../../src/engine/engine.ts';
import { OnnxEngine } from '../../../src/engine/onnx-engine.ts';
import { SubnetCache } from '../../../src/engine/subnet-cache.ts';
import { EngineError, ModelError } from '../../../src/errors.ts';
import { countParams } from '../../../src/model/accounting.ts';
import { formatSubnetId, type SubnetConfig, type SupernetConfig } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import type { TokenBatch } from '../../../src/model/token-batch.ts';
import type { WeightSource } from '../../../src/model/weight-checks.ts';
import { randomSupernetWeights } from '../../helpers/random-weights.ts';
import { randomBatch, TINY } from '../../helpers/tiny-model.ts';

// An engine that records what it loads and disposes; a load completes when the test says so.
class FakeEngine implements Engine {
  readonly name = 'tfjs';
  readonly loads: string[] = [];
  readonly disposed: string[] = [];
  private gates: Array<() => void> = [];
  manual = false;
  failNext = false;

  residentBytes(config: SupernetConfig, subnet: SubnetConfig): number {
    return countParams(config, subnet) * 4;
  }

  async load(config: SupernetConfig, subnet: SubnetConfig, _weights: WeightSource): Promise<LoadedSubnet> {
    const id = formatSubnetId(subnet);
    this.loads.push(id);
    if (this.manual) await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('runtime exploded');
    }
    const disposed = this.disposed;
    let live = true;
    return {
      engine: 'tfjs',
      subnet,
      precision: 'fp32',
      id,
      memoryBytes: this.residentBytes(config, subnet),
      run: async (batch: TokenBatch) => {
        if (!live) throw new Error(`ran disposed subnet ${id}`);
        return new Float32Array(batch.batch * config.numLabels);
      },
      dispose: async () => {
        if (live) disposed.push(id);
        live = false;
      },
    };
  }

  // Lets every load waiting so far complete.
  open(): void {
    for (const gate of this.gates.splice(0)) gate();
  }
}

const weights = randomSupernetWeights(TINY, 1);
const one = (layer: number, ffn = 24): SubnetConfig => ({ layers: [{ layer, heads: 4, ffn }] });
const bytesOf = (subnet: SubnetConfig) => countParams(TINY, subnet) * 4;
const batch = randomBatch(TINY, new Rng(1), 1, 4);

describe('subnet cache', () => {
  it('stays within its byte budget, evicting the least recently used subnet and disposing it', async () => {
    const engine = new FakeEngine();
    const [a, b, c] = [one(0), one(1), one(2)];
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: bytesOf(a) * 2 + 1,
    });
    await cache.run(a, batch);
    await cache.run(b, batch);
    await cache.run(a, batch); // a is now the most recently used
    await cache.run(c, batch); // evicts b
    assert.deepEqual(
      cache.resident().map((r) => r.id),
      [formatSubnetId(a), formatSubnetId(c)],
    );
    assert.deepEqual(engine.disposed, [formatSubnetId(b)]);
    const stats = cache.stats();
    assert.equal(stats.hits, 1);
    assert.equal(stats.misses, 3);
    assert.equal(stats.evictions, 1);
    assert.equal(stats.loads, 3);
    assert.ok(stats.residentBytes <= stats.budgetBytes);
    assert.equal(stats.residentBytes, bytesOf(a) * 2);
    await cache.run(b, batch); // evicts a (least recently used), loads b again
    assert.deepEqual(engine.loads, ['0h4f24', '1h4f24', '2h4f24', '1h4f24']);
    assert.deepEqual(engine.disposed, ['1h4f24', '0h4f24']);
    await cache.dispose();
    assert.deepEqual(engine.disposed.sort(), ['0h4f24', '1h4f24', '1h4f24', '2h4f24']);
  });

  it('shares one budget between caches: the least recently used subnet goes, whichever cache holds it', async () => {
    const engine = new FakeEngine();
    const [a, b] = [one(0), one(1)];
    const budget = new CacheBudget(bytesOf(a) * 2 + 1);
    const first = new SubnetCache({ engine, config: TINY, supernetWeights: weights, budget });
    const second = new SubnetCache({ engine, config: TINY, supernetWeights: weights, budget });
    await first.run(a, batch);
    await second.run(b, batch);
    await first.run(a, batch); // the second cache's subnet is now the least recently used
    await first.run(b, batch); // evicts it from the second cache, not a from the first
    assert.deepEqual(
      first.resident().map((r) => r.id),
      [formatSubnetId(a), formatSubnetId(b)],
    );
    assert.deepEqual(second.resident(), []);
    assert.equal(second.stats().evictions, 1);
    assert.equal(first.stats().evictions, 0);
    assert.equal(budget.usedBytes, bytesOf(a) * 2);
    await second.run(a, batch); // evicts the first cache's a, now least recently used
    assert.deepEqual(
      first.resident().map((r) => r.id),
      [formatSubnetId(b)],
    );
    assert.equal(budget.usedBytes, bytesOf(a) * 2);
    await first.dispose();
    await second.dispose();
    assert.equal(budget.usedBytes, 0);
  });

  it('makes room before loading, so that loads in progress count against the budget', async () => {
    const engine = new FakeEngine();
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: bytesOf(one(0)) + 1,
    });
    await cache.run(one(0), batch);
    engine.manual = true;
    const loading = cache.run(one(1), batch);
    await new Promise((resolve) => setImmediate(resolve));
    // one(0) went before one(1)'s load finished.
    assert.deepEqual(engine.disposed, ['0h4f24']);
    engine.open();
    await loading;
    assert.deepEqual(
      cache.resident().map((r) => r.id),
      ['1h4f24'],
    );
    await cache.dispose();
  });

  it('shares one load among concurrent requests for the same subnet', async () => {
    const engine = new FakeEngine();
    engine.manual = true;
    const cache = new SubnetCache({ engine, config: TINY, supernetWeights: weights, budget: 1e9 });
    const runs = Array.from({ length: 5 }, () => cache.run(one(1), batch));
    await new Promise((resolve) => setImmediate(resolve));
    engine.open();
    const results = await Promise.all(runs);
    assert.equal(results.length, 5);
    assert.deepEqual(engine.loads, ['1h4f24']);
    const stats = cache.stats();
    assert.equal(stats.misses, 1);
    assert.equal(stats.sharedLoads, 4);
    assert.equal(stats.loads, 1);
    assert.equal(cache.resident()[0]!.pins, 0);
    await cache.dispose();
  });

  it('never evicts or disposes a leased subnet, and gets back within budget as soon as it can', async () => {
    const engine = new FakeEngine();
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: bytesOf(one(0)) + 1,
    });
    const lease = await cache.acquire(one(0));
    // Over budget while one(0) is pinned: one(1) is served, then evicted as soon as its call is done.
    await cache.run(one(1), batch);
    assert.deepEqual(engine.disposed, ['1h4f24']);
    assert.deepEqual(
      cache.resident().map((r) => [r.id, r.pins]),
      [['0h4f24', 1]],
    );
    assert.equal((await lease.subnet.run(batch)).length, 2);
    const again = await cache.acquire(one(0));
    await cache.dispose();
    assert.deepEqual(engine.disposed, ['1h4f24'], 'leased: not disposed with the cache');
    lease.release();
    lease.release(); // a second release is a no-op
    assert.equal((await again.subnet.run(batch)).length, 2);
    again.release();
    assert.deepEqual(engine.disposed, ['1h4f24', '0h4f24']);
  });

  it('measures each switch: load count and times, from its clock', async () => {
    const engine = new FakeEngine();
    let clock = 0;
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: 1e9,
      now: () => (clock += 5),
    });
    await cache.run(one(0), batch);
    await cache.run(one(0), batch);
    await cache.run(one(1), batch);
    const stats = cache.stats();
    assert.equal(stats.loads, 2);
    assert.equal(stats.lastLoadMs, 5);
    assert.equal(stats.totalLoadMs, 10);
    assert.deepEqual(
      cache.resident().map((r) => r.loadMs),
      [5, 5],
    );
    await cache.dispose();
  });

  it('refuses a subnet larger than the budget, reports failed loads, and retries after one', async () => {
    const engine = new FakeEngine();
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: bytesOf(one(0, 4)) + 1,
    });
    await assert.rejects(
      cache.run(one(0), batch),
      (e: unknown) => e instanceof EngineError && e.code === 'CACHE_BUDGET_EXCEEDED',
    );
    assert.deepEqual(engine.loads, []);
    engine.failNext = true;
    await assert.rejects(
      cache.run(one(1, 4), batch),
      (e: unknown) => e instanceof EngineError && e.code === 'ENGINE_FAILED' && e.cause instanceof Error,
    );
    assert.equal(cache.stats().failedLoads, 1);
    assert.equal(cache.stats().residentBytes, 0);
    assert.equal((await cache.run(one(1, 4), batch)).length, 2);
    await assert.rejects(
      cache.run({ layers: [{ layer: 7, heads: 1, ffn: 1 }] }, batch),
      (e: unknown) => e instanceof ModelError && e.code === 'SUBNET_OUT_OF_RANGE',
    );
    await cache.dispose();
    await assert.rejects(
      cache.run(one(1, 4), batch),
      (e: unknown) => e instanceof EngineError && e.code === 'SUBNET_DISPOSED',
    );
  });

  it('serves real onnx subnets: one session per switch, none per hit', async () => {
    const engine = new OnnxEngine();
    const cache = new SubnetCache({
      engine,
      config: TINY,
      supernetWeights: weights,
      budget: bytesOf(one(0)) * 2 + 1,
    });
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) await cache.run(one(i % 2), randomBatch(TINY, rng, 2, 6));
    assert.equal(engine.sessionsCreated, 2);
    await cache.run(one(2), batch);
    await cache.run(one(0), batch);
    assert.equal(engine.sessionsCreated, 4);
    assert.equal(cache.stats().evictions, 2);
    await cache.dispose();
  });
});
