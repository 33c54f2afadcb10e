import type { CatalogPoint } from './api-client.ts';

// One budget class of the mix: the headers its requests carry and its share of the traffic.
export interface TrafficClass {
  name: string;
  latencyBudgetMs: number | undefined;
  memoryBudgetMb: number | undefined;
  weight: number;
  // Whether the SLO target covers it: a best-effort latency budget above the smallest point's latency.
  inSlo: boolean;
  headers: Record<string, string>;
}

// The three operating points pinned as baselines: most FLOPs, the median, fewest FLOPs.
export interface Baselines {
  largest: CatalogPoint;
  middle: CatalogPoint;
  smallest: CatalogPoint;
}

// The mix, and how its budgets were derived.
export interface TrafficMix {
  classes: TrafficClass[];
  baselines: Baselines;
  overheadMs: number;
  derivation: string;
}

const MIB = 1024 * 1024;
// Rounds up to a multiple of `step` (a power of ten), without binary fractions left over (23.4, not 23.400000000000002).
const ceilTo = (value: number, step: number) => {
  const digits = Math.max(0, -Math.round(Math.log10(step)));
  return Number((Math.ceil(value / step - 1e-9) * step).toFixed(digits));
};

// Picks the baselines by FLOPs (one text at each point's own token length).
export function pickBaselines(catalog: readonly CatalogPoint[]): Baselines {
  const byFlops = [...catalog].sort((a, b) => a.flops - b.flops || a.id.localeCompare(b.id));
  return {
    smallest: byFlops[0]!,
    middle: byFlops[Math.floor((byFlops.length - 1) / 2)]!,
    largest: byFlops[byFlops.length - 1]!,
  };
}

// How far above the idle p99 the tight budget starts (see below).
const IDLE_P99_HEADROOM = 1.25;

// Derives the budget classes from the catalog latencies calibrated on the server's host plus the per-request
// overhead measured when idle (HTTP, JSON, tokenizing: what no catalog latency includes):
//   tight  = 1.5 x (smallest point's calibrated latency + overhead), but at least 1.25 x the idle p99 (the
//            99th percentile of an idle server's time for the smallest point). At the idle p99 itself an idle
//            server misses 1% by definition, so the least load would fail the 99% target there: the class would
//            measure the host's own jitter rather than the serving policy;
//   medium = 1.5 x (middle point's + overhead), at least 1.5 x tight;
//   loose  = 2 x (largest point's + overhead): above what the largest needs, so an idle server serves it;
//   memory = the middle point's memory (one text at its tokens): no latency budget;
//   none   = no budget header at all.
//   --budgets T,M,L replaces the three latency budgets (given: the derivation says so).
export function buildTrafficMix(
  catalog: readonly CatalogPoint[],
  overheadMs: number,
  idleP99Ms = 0,
  given?: readonly [number, number, number],
): TrafficMix {
  const baselines = pickBaselines(catalog);
  const smallestMs = Math.min(...catalog.map((p) => p.calibratedLatencyMs));
  const derived = deriveBudgets(baselines, overheadMs, idleP99Ms);
  const [tight, medium, loose] = given ?? derived.budgets;
  const memoryMb = ceilTo(baselines.middle.memoryBytes / MIB, 0.01);
  const latencyClass = (name: string, budgetMs: number, weight: number): TrafficClass => ({
    name,
    latencyBudgetMs: budgetMs,
    memoryBudgetMb: undefined,
    weight,
    inSlo: budgetMs > smallestMs,
    headers: { 'latency-budget-ms': budgetMs.toFixed(1) },
  });
  return {
    classes: [
      latencyClass('tight', tight, 0.2),
      latencyClass('medium', medium, 0.25),
      latencyClass('loose', loose, 0.2),
      {
        name: 'memory',
        latencyBudgetMs: undefined,
        memoryBudgetMb: memoryMb,
        weight: 0.15,
        inSlo: false,
        headers: { 'memory-budget-mb': memoryMb.toFixed(2) },
      },
      {
        name: 'none',
        latencyBudgetMs: undefined,
        memoryBudgetMb: undefined,
        weight: 0.2,
        inSlo: false,
        headers: {},
      },
    ],
    baselines,
    overheadMs,
    derivation:
      given === undefined
        ? derived.derivation
        : `tight ${tight} ms, medium ${medium} ms, loose ${loose} ms given (--budgets; derived here: ${derived.budgets.join(' / ')} ms); ` +
          `memory = ${baselines.middle.id}'s memory (${(baselines.middle.memoryBytes / MIB).toFixed(2)} MiB); none = no budget`,
  };
}

// The three latency budgets from the host's calibration, as described above.
function deriveBudgets(
  baselines: Baselines,
  overheadMs: number,
  idleP99Ms: number,
): { budgets: [number, number, number]; derivation: string } {
  const tight = Math.max(
    ceilTo(1.5 * (baselines.smallest.calibratedLatencyMs + overheadMs), 0.1),
    ceilTo(IDLE_P99_HEADROOM * idleP99Ms, 0.1),
  );
  const medium = Math.max(
    ceilTo(1.5 * (baselines.middle.calibratedLatencyMs + overheadMs), 0.1),
    ceilTo(tight * 1.5, 0.1),
  );
  const loose = Math.max(
    ceilTo(2 * (baselines.largest.calibratedLatencyMs + overheadMs), 0.1),
    ceilTo(medium * 1.5, 0.1),
  );
  return {
    budgets: [tight, medium, loose],
    derivation:
      `overhead ${overheadMs.toFixed(2)} ms (median Server-Timing total - queue - inference of idle requests pinned to ${baselines.smallest.id}); ` +
      `tight = 1.5 x (${baselines.smallest.id} ${baselines.smallest.calibratedLatencyMs} ms + overhead), at least ${IDLE_P99_HEADROOM} x the idle p99 ${idleP99Ms.toFixed(2)} ms (Server-Timing total of those idle requests); ` +
      `medium = 1.5 x (${baselines.middle.id} ${baselines.middle.calibratedLatencyMs} ms + overhead), at least 1.5 x tight; ` +
      `loose = 2 x (${baselines.largest.id} ${baselines.largest.calibratedLatencyMs} ms + overhead), at least 1.5 x medium; ` +
      `memory = ${baselines.middle.id}'s memory (${(baselines.middle.memoryBytes / MIB).toFixed(2)} MiB); none = no budget`,
  };
}
