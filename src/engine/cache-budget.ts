import { EngineError } from '../errors.ts';

// One resident subnet as the budget sees it: its bytes, whether a lease pins it, and how to evict it.
interface Resident {
  memoryBytes: number;
  pinned(): boolean;
  evict(): void;
}

// A byte budget shared by the subnet caches of one engine (one cache per model): every cache's resident subnets
// count against it, and the least recently used unpinned subnet is evicted first, whichever cache holds it.
export class CacheBudget {
  readonly budgetBytes: number;
  private residentBytes = 0;
  private reservedBytes = 0;
  // Least recently used first (a Map keeps insertion order; a use re-inserts).
  private readonly lru = new Map<object, Resident>();

  constructor(budgetBytes: number) {
    if (!Number.isFinite(budgetBytes) || budgetBytes <= 0) {
      throw new EngineError(
        'CACHE_BUDGET_EXCEEDED',
        `subnet cache budget must be a positive number of bytes, got ${budgetBytes}`,
      );
    }
    this.budgetBytes = budgetBytes;
  }

  // Bytes held by resident subnets of every cache.
  get usedBytes(): number {
    return this.residentBytes;
  }

  // Holds room for a load in progress, evicting what it must to make it.
  reserve(bytes: number): void {
    this.reservedBytes += bytes;
    this.evictOverBudget();
  }

  unreserve(bytes: number): void {
    this.reservedBytes -= bytes;
  }

  // Counts a newly resident subnet (the most recently used).
  add(key: object, resident: Resident): void {
    this.lru.set(key, resident);
    this.residentBytes += resident.memoryBytes;
  }

  // Marks a subnet most recently used.
  touch(key: object): void {
    const resident = this.lru.get(key);
    if (resident === undefined) return;
    this.lru.delete(key);
    this.lru.set(key, resident);
  }

  // Stops counting a subnet (evicted or disposed by its cache).
  remove(key: object): void {
    const resident = this.lru.get(key);
    if (resident === undefined) return;
    this.lru.delete(key);
    this.residentBytes -= resident.memoryBytes;
  }

  // Evicts unpinned subnets, least recently used first, until resident and loading ones fit (pinned ones may
  // keep the budget exceeded until they are released).
  evictOverBudget(): void {
    for (const resident of [...this.lru.values()]) {
      if (this.residentBytes + this.reservedBytes <= this.budgetBytes) return;
      if (!resident.pinned()) resident.evict();
    }
  }
}
