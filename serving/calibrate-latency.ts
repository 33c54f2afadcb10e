import type { CostTable } from '../src/model/accounting.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { LatencyFit } from './latency-model.ts';

// An operating point as calibration sees it.
export interface CalibrationPoint {
  subnetIndex: number;
  tokens: number;
  cost: CostTable;
}

// How to calibrate: the runner (one call on one slot, returns its milliseconds), the time budget and the shapes'
// limits.
export interface CalibrationOptions {
  points: readonly CalibrationPoint[];
  run(slot: number, subnetIndex: number, batch: TokenBatch): Promise<number>;
  // Slots that calibrate in parallel, each its share of the points (default 1).
  slots?: number;
  // Rounds after the first stop once this many milliseconds have passed (the first round always runs).
  budgetMs: number;
  maxBatch: number;
  // Token ids are drawn from [firstId, vocabSize).
  firstId: number;
  vocabSize: number;
  now?: () => number;
}

// What calibration measured: one fit per point, how many calls it timed and how long it took.
export interface CalibrationResult {
  fits: LatencyFit[];
  samples: number;
  rounds: number;
  elapsedMs: number;
}

interface Shape {
  batch: number;
  tokens: number;
}

// Times every operating point on this host at three shapes (one short text, one full-length text, a batch of
// full-length texts), round after round within the budget, and fits `fixedMs + msPerGflop * GFLOPs` per point
// to the medians. A warm-up call per point comes first (a session's first run is slow). With several slots
// (worker threads), points are timed in parallel, as they run under load.
export async function calibrateLatency(options: CalibrationOptions): Promise<CalibrationResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const batchSize = Math.min(4, options.maxBatch);
  const shapes = options.points.map((p): Shape[] => {
    const short = Math.max(2, Math.ceil(p.tokens / 4));
    const list = [
      { batch: 1, tokens: short },
      { batch: 1, tokens: p.tokens },
    ];
    if (batchSize > 1) list.push({ batch: batchSize, tokens: p.tokens });
    return list;
  });
  const samples = shapes.map((list) => list.map((): number[] => []));
  let random = 12345;
  const batchOf = (shape: Shape): TokenBatch => {
    const size = shape.batch * shape.tokens;
    const ids = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      random = (Math.imul(random, 1103515245) + 12345) >>> 0;
      ids[i] = options.firstId + (random % Math.max(1, options.vocabSize - options.firstId));
    }
    return { batch: shape.batch, tokens: shape.tokens, ids, mask: new Int32Array(size).fill(1) };
  };

  // Each slot times its share of the points: a warm-up call each, then rounds until the budget is spent.
  const slots = Math.max(1, Math.min(options.slots ?? 1, options.points.length));
  const rounds = new Array<number>(slots).fill(0);
  let count = 0;
  await Promise.all(
    rounds.map(async (_, slot) => {
      const mine = options.points.map((_, p) => p).filter((p) => p % slots === slot);
      for (const p of mine) await options.run(slot, options.points[p]!.subnetIndex, batchOf(shapes[p]![1]!));
      do {
        for (const p of mine) {
          for (let s = 0; s < shapes[p]!.length; s++) {
            const ms = await options.run(slot, options.points[p]!.subnetIndex, batchOf(shapes[p]![s]!));
            samples[p]![s]!.push(ms);
            count++;
          }
        }
        rounds[slot]!++;
      } while (now() - started < options.budgetMs);
    }),
  );

  const fits = options.points.map((point, p) =>
    fitLine(
      shapes[p]!.map((shape) => point.cost.flops(shape.batch, shape.tokens) / 1e9),
      samples[p]!.map(median),
    ),
  );
  return { fits, samples: count, rounds: Math.min(...rounds), elapsedMs: now() - started };
}

// Least squares of ms = fixedMs + msPerGflop * gflops, both kept non-negative.
export function fitLine(gflops: readonly number[], ms: readonly number[]): LatencyFit {
  const n = gflops.length;
  const meanX = gflops.reduce((a, b) => a + b, 0) / n;
  const meanY = ms.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (gflops[i]! - meanX) ** 2;
    sxy += (gflops[i]! - meanX) * (ms[i]! - meanY);
  }
  let slope = sxx > 0 ? sxy / sxx : 0;
  let fixed = meanY - slope * meanX;
  if (slope < 0) {
    slope = 0;
    fixed = meanY;
  } else if (fixed < 0) {
    // Through the origin.
    const xx = gflops.reduce((a, x) => a + x * x, 0);
    slope = xx > 0 ? gflops.reduce((a, x, i) => a + x * ms[i]!, 0) / xx : 0;
    fixed = 0;
  }
  return { fixedMs: fixed, msPerGflop: slope };
}

// The middle value (the mean of the two middle ones for an even count).
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
