import { EngineError, isSupernetError } from '../errors.ts';
import {
  assertSubnetFits,
  formatSubnetPrecisionId,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../model/config.ts';
import { sliceSubnetWeights } from '../model/slice-subnet-weights.ts';
import type { TokenBatch } from '../model/token-batch.ts';
import type { WeightSource } from '../model/weight-checks.ts';
import type { WeightTensor } from '../model/weights.ts';
import { CacheBudget } from './cache-budget.ts';
import type { Engine, LoadedSubnet } from './engine.ts';

export interface SubnetCacheOptions {
  engine: Engine;
  config: SupernetConfig;
  // The supernet's weights (full layout): a miss slices the subnet's out of them and loads it on the engine.
  supernetWeights: WeightSource;
  // The most bytes resident subnets may hold on the engine (their memoryBytes), loads in progress included: a
  // number for a cache of its own, or a budget shared with the caches of other models on the same engine.
  budget: number | CacheBudget;
  // Milliseconds, for the load timings (default performance.now).
  now?: () => number;
}

// What the cache has done so far. A switch is a miss: slicing the weights plus loading them on the engine.
export interface SubnetCacheStats {
  hits: number;
  misses: number;
  // Requests that found their subnet loading and waited for that load instead of starting one.
  sharedLoads: number;
  evictions: number;
  loads: number;
  failedLoads: number;
  lastLoadMs: number | undefined;
  totalLoadMs: number;
  residentBytes: number;
  residentSubnets: number;
  budgetBytes: number;
}

// One resident subnet, as listed by `resident()`.
export interface ResidentSubnet {
  id: string;
  memoryBytes: number;
  loadMs: number;
  // Leases not yet released: a pinned subnet is never evicted.
  pins: number;
}

// A resident subnet held for use; release it when done (it cannot be evicted before).
export interface SubnetLease {
  readonly subnet: LoadedSubnet;
  release(): void;
}

interface Entry {
  id: string;
  loaded: LoadedSubnet;
  loadMs: number;
  pins: number;
}

interface PendingLoad {
  promise: Promise<Entry>;
  waiters: number;
}

// Materialized subnets kept resident within a byte budget, least recently used evicted first. A request for a
// non-resident subnet materializes it (concurrent requests share one load); an evicted subnet is disposed once
// its last lease is released.
export class SubnetCache {
  private readonly engine: Engine;
  private readonly config: SupernetConfig;
  private readonly supernetWeights: WeightSource;
  private readonly budget: CacheBudget;
  private readonly now: () => number;
  // Least recently used first (Map keeps insertion order; a hit re-inserts).
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, PendingLoad>();
  private readonly disposals = new Set<Promise<void>>();
  private readonly disposeErrors: unknown[] = [];
  private residentBytes = 0;
  private closed = false;
  private readonly counts = {
    hits: 0,
    misses: 0,
    sharedLoads: 0,
    evictions: 0,
    loads: 0,
    failedLoads: 0,
    lastLoadMs: undefined as number | undefined,
    totalLoadMs: 0,
  };

  constructor(options: SubnetCacheOptions) {
    this.budget = typeof options.budget === 'number' ? new CacheBudget(options.budget) : options.budget;
    this.engine = options.engine;
    this.config = options.config;
    // Read on every miss: an iterable is copied so that it can be read again.
    this.supernetWeights =
      options.supernetWeights instanceof Map
        ? options.supernetWeights
        : [...(options.supernetWeights as Iterable<WeightTensor>)];
    this.now = options.now ?? (() => performance.now());
  }

  // The subnet in a precision (default fp32), resident and pinned until the lease is released. Loads it on a miss.
  async acquire(subnet: SubnetConfig, precision: Precision = 'fp32'): Promise<SubnetLease> {
    this.assertOpen();
    assertSubnetFits(this.config, subnet);
    const id = formatSubnetPrecisionId(subnet, precision);
    const entry = this.entries.get(id);
    if (entry) {
      this.counts.hits++;
      this.entries.delete(id);
      this.entries.set(id, entry);
      this.budget.touch(entry);
      entry.pins++;
      return this.lease(entry);
    }
    let load = this.pending.get(id);
    if (load) {
      this.counts.sharedLoads++;
      load.waiters++;
    } else {
      this.counts.misses++;
      load = this.startLoad(id, subnet, precision);
    }
    // The load pins the entry once per waiter before any of them resumes: none can see it evicted.
    return this.lease(await load.promise);
  }

  // Runs one batch on the subnet in a precision (acquire, run, release).
  async run(subnet: SubnetConfig, batch: TokenBatch, precision: Precision = 'fp32'): Promise<Float32Array> {
    const lease = await this.acquire(subnet, precision);
    try {
      return await lease.subnet.run(batch);
    } finally {
      lease.release();
    }
  }

  // Resident subnets, least recently used first.
  resident(): ResidentSubnet[] {
    return [...this.entries.values()].map((e) => ({
      id: e.id,
      memoryBytes: e.loaded.memoryBytes,
      loadMs: e.loadMs,
      pins: e.pins,
    }));
  }

  stats(): SubnetCacheStats {
    return {
      ...this.counts,
      residentBytes: this.residentBytes,
      residentSubnets: this.entries.size,
      budgetBytes: this.budget.budgetBytes,
    };
  }

  // Disposes every resident subnet (leased ones when released) and refuses further requests.
  async dispose(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending.values()].map((p) => p.promise));
    for (const entry of [...this.entries.values()]) this.remove(entry);
    await Promise.all([...this.disposals]);
    if (this.disposeErrors.length > 0) {
      throw new EngineError('ENGINE_FAILED', `${this.disposeErrors.length} subnet(s) failed to dispose`, {
        cause: new AggregateError(this.disposeErrors.splice(0)),
      });
    }
  }

  private startLoad(id: string, subnet: SubnetConfig, precision: Precision): PendingLoad {
    // Make room for what the engine will hold before loading, not after.
    const expectedBytes = this.engine.residentBytes(this.config, subnet, precision);
    if (expectedBytes > this.budget.budgetBytes) {
      throw new EngineError(
        'CACHE_BUDGET_EXCEEDED',
        `subnet ${id} needs ${expectedBytes} bytes, more than the cache budget of ${this.budget.budgetBytes}`,
      );
    }
    this.budget.reserve(expectedBytes);
    const settle = () => {
      this.pending.delete(id);
      this.budget.unreserve(expectedBytes);
    };
    const load: PendingLoad = {
      waiters: 1,
      promise: this.load(id, subnet, precision).then(
        (entry) => {
          settle();
          entry.pins = load.waiters;
          this.entries.set(id, entry);
          this.residentBytes += entry.loaded.memoryBytes;
          this.budget.add(entry, {
            memoryBytes: entry.loaded.memoryBytes,
            pinned: () => entry.pins > 0,
            evict: () => {
              this.counts.evictions++;
              this.remove(entry);
            },
          });
          this.budget.evictOverBudget();
          return entry;
        },
        (error: unknown) => {
          settle();
          throw error;
        },
      ),
    };
    this.pending.set(id, load);
    return load;
  }

  private async load(id: string, subnet: SubnetConfig, precision: Precision): Promise<Entry> {
    const started = this.now();
    let loaded: LoadedSubnet;
    try {
      const weights = sliceSubnetWeights(this.config, this.supernetWeights, subnet);
      loaded = await this.engine.load(this.config, subnet, weights, precision);
    } catch (error) {
      this.counts.failedLoads++;
      if (isSupernetError(error)) throw error;
      throw new EngineError('ENGINE_FAILED', `loading subnet ${id} on ${this.engine.name} failed`, {
        cause: error,
      });
    }
    const loadMs = this.now() - started;
    this.counts.loads++;
    this.counts.lastLoadMs = loadMs;
    this.counts.totalLoadMs += loadMs;
    return { id, loaded, loadMs, pins: 0 };
  }

  private lease(entry: Entry): SubnetLease {
    let released = false;
    return {
      subnet: entry.loaded,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
        if (entry.pins > 0) return;
        if (!this.entries.has(entry.id)) this.disposeEntry(entry);
        else this.budget.evictOverBudget();
      },
    };
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.id);
    this.residentBytes -= entry.loaded.memoryBytes;
    this.budget.remove(entry);
    if (entry.pins === 0) this.disposeEntry(entry);
  }

  // Disposes in the background; a failure is kept and thrown by the cache's dispose().
  private disposeEntry(entry: Entry): void {
    const done: Promise<void> = entry.loaded
      .dispose()
      .catch((error: unknown) => {
        this.disposeErrors.push(error);
      })
      .finally(() => this.disposals.delete(done));
    this.disposals.add(done);
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineError('SUBNET_DISPOSED', 'the subnet cache has been disposed');
  }
}
