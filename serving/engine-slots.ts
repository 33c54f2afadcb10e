// How long a model's engine time counts against its turn (ms): the time constant its usage decays with.
export const FAIRNESS_WINDOW_MS = 1000;

// The time constant (ms) of EngineSlots.utilization: long enough to span many calls, short enough to follow a burst.
export const UTILIZATION_WINDOW_MS = 250;

// One model's scheduler as the shared slots see it.
export interface SlotClient {
  // Whether it has queued work.
  readonly hasWork: boolean;
  // The deadline of its most urgent queued job.
  readonly headDeadline: number;
  // Starts its next batch on this free slot (it calls occupy, and release when the call ends).
  startOn(slot: number): void;
}

interface ClientUsage {
  // Engine milliseconds used, decayed with FAIRNESS_WINDOW_MS, as of `at`.
  usageMs: number;
  at: number;
}

// The inference slots every model's scheduler shares: which are busy and until when, the engine's recent busy
// share, and whose turn is next. A free slot goes to the model with work that has used the engine least lately
// (ties: the most urgent job), so a flood of requests to one model takes only the slots the others leave.
export class EngineSlots {
  private readonly pool: { readonly slots: number; isAlive(slot: number): boolean };
  private readonly now: () => number;
  private readonly busy: boolean[];
  private readonly busyUntil: Float64Array;
  private readonly usage = new Map<SlotClient, ClientUsage>();
  private running = 0;
  // Busy share of the live slots, smoothed exponentially (time constant UTILIZATION_WINDOW_MS), as of utilizedAt.
  private utilized = 0;
  private utilizedAt: number;

  constructor(pool: { readonly slots: number; isAlive(slot: number): boolean }, now?: () => number) {
    this.pool = pool;
    this.now = now ?? (() => performance.now());
    this.busy = Array.from({ length: pool.slots }, () => false);
    this.busyUntil = new Float64Array(pool.slots);
    this.utilizedAt = this.now();
  }

  get slots(): number {
    return this.busy.length;
  }

  isAlive(slot: number): boolean {
    return this.pool.isAlive(slot);
  }

  // Slots that can take work.
  get liveSlots(): number {
    let live = 0;
    for (let s = 0; s < this.busy.length; s++) if (this.pool.isAlive(s)) live++;
    return live;
  }

  // Milliseconds the call on this slot is predicted to run still (0 when free).
  remainingMs(slot: number, now: number): number {
    return this.busy[slot] ? Math.max(0, this.busyUntil[slot]! - now) : 0;
  }

  // The share of the last few hundred milliseconds the live slots spent running calls (0 to 1), all models
  // together, smoothed exponentially: what selection trades accuracy against (SelectionTable.loadTrade).
  utilization(): number {
    this.advanceUtilization();
    return this.utilized;
  }

  // How many schedulers (models) take turns on the slots.
  get clientCount(): number {
    return this.usage.size;
  }

  register(client: SlotClient): void {
    this.usage.set(client, { usageMs: 0, at: this.now() });
  }

  unregister(client: SlotClient): void {
    this.usage.delete(client);
  }

  // Marks a slot busy with a call predicted to take predictedMs.
  occupy(slot: number, predictedMs: number): void {
    this.advanceUtilization();
    this.busy[slot] = true;
    this.busyUntil[slot] = this.now() + predictedMs;
    this.running++;
  }

  // Frees a slot after a call of the client's that took engineMs, and hands out the free slots.
  release(slot: number, client: SlotClient, engineMs: number): void {
    this.advanceUtilization();
    this.busy[slot] = false;
    this.running--;
    const usage = this.usage.get(client);
    if (usage) usage.usageMs = this.decayed(usage) + engineMs;
    this.dispatch();
  }

  // Gives every free live slot to the client whose turn it is, while some client has work.
  dispatch(): void {
    for (let slot = 0; slot < this.busy.length; slot++) {
      if (this.busy[slot] || !this.pool.isAlive(slot)) continue;
      const client = this.nextClient();
      if (!client) return;
      client.startOn(slot);
    }
  }

  private nextClient(): SlotClient | undefined {
    let best: SlotClient | undefined;
    let bestUsage = Number.POSITIVE_INFINITY;
    for (const [client, usage] of this.usage) {
      if (!client.hasWork) continue;
      const used = this.decayed(usage);
      if (used < bestUsage || (used === bestUsage && best && client.headDeadline < best.headDeadline)) {
        best = client;
        bestUsage = used;
      }
    }
    return best;
  }

  private decayed(usage: ClientUsage): number {
    const now = this.now();
    usage.usageMs *= Math.exp(-Math.max(0, now - usage.at) / FAIRNESS_WINDOW_MS);
    usage.at = now;
    return usage.usageMs;
  }

  // Integrates the busy share since the last change of `running` (constant in between, so exact).
  private advanceUtilization(): void {
    const now = this.now();
    const dt = now - this.utilizedAt;
    if (dt <= 0) return;
    const live = this.liveSlots;
    const share = live === 0 ? 0 : Math.min(1, this.running / live);
    this.utilized = share + (this.utilized - share) * Math.exp(-dt / UTILIZATION_WINDOW_MS);
    this.utilizedAt = now;
  }
}
