import type { CatalogPoint } from './api.ts';

// How the sliders map to budgets, from the catalog: latency on a log scale over the catalog's range (with room
// on both sides, the last position meaning no budget); memory linear over the points' memory (the last
// position: no budget); the accuracy floor linear up to the most accurate point (position 0: no floor).
export interface BudgetScale {
  latency: { minMs: number; maxMs: number; steps: number };
  memory: { minMb: number; maxMb: number; steps: number };
  accuracy: { min: number; max: number; steps: number };
}

export const LATENCY_STEPS = 200;
export const MEMORY_STEPS = 100;
export const ACCURACY_STEPS = 100;

// The scales for a catalog.
export function budgetScale(catalog: readonly CatalogPoint[]): BudgetScale {
  const latencies = catalog.map((p) => p.calibratedLatencyMs).filter((ms) => ms > 0);
  const memories = catalog.map((p) => p.memoryBytes / 1024 / 1024);
  const accuracies = catalog.map((p) => p.devAccuracy);
  const minLatency = latencies.length > 0 ? Math.min(...latencies) : 1;
  const maxLatency = latencies.length > 0 ? Math.max(...latencies) : 100;
  const minMemory = Math.min(...memories);
  const maxMemory = Math.max(...memories);
  const maxAccuracy = Math.max(...accuracies);
  return {
    latency: { minMs: minLatency / 2, maxMs: Math.max(maxLatency * 2, minLatency), steps: LATENCY_STEPS },
    memory: {
      minMb: Math.max(0.1, minMemory * 0.9),
      maxMb: Math.max(maxMemory, minMemory * 0.9 + 0.1),
      steps: MEMORY_STEPS,
    },
    accuracy: {
      min: Math.max(0, Math.floor(Math.min(...accuracies) * 100 - 2) / 100),
      max: maxAccuracy,
      steps: ACCURACY_STEPS,
    },
  };
}

// Slider position to latency budget (ms); the last position is no budget.
export function latencyAt(scale: BudgetScale, position: number): number | undefined {
  const { minMs, maxMs, steps } = scale.latency;
  if (position >= steps) return undefined;
  return minMs * (maxMs / minMs) ** (position / (steps - 1));
}

// The position whose budget is closest to `ms`.
export function latencyPosition(scale: BudgetScale, ms: number): number {
  const { minMs, maxMs, steps } = scale.latency;
  const share = Math.log(ms / minMs) / Math.log(maxMs / minMs);
  return Math.max(0, Math.min(steps - 1, Math.round(share * (steps - 1))));
}

// Slider position to memory budget (MiB); the last position is no budget.
export function memoryAt(scale: BudgetScale, position: number): number | undefined {
  const { minMb, maxMb, steps } = scale.memory;
  if (position >= steps) return undefined;
  return minMb + ((maxMb - minMb) * position) / (steps - 1);
}

// Slider position to accuracy floor (0 to 1); position 0 is no floor.
export function accuracyAt(scale: BudgetScale, position: number): number | undefined {
  const { min, max, steps } = scale.accuracy;
  if (position <= 0) return undefined;
  return min + ((max - min) * position) / steps;
}
