import type { CostTable } from './cost-table.ts';

// One operating point's calibrated latency: a fixed cost per call plus a cost per GFLOP of work.
export interface LatencyFit {
  fixedMs: number;
  msPerGflop: number;
}

const MIN_CORRECTION = 0.2;
const MAX_CORRECTION = 5;

// Predicted inference time per operating point for any batch and token count: the host calibration (fit) times
// a correction factor kept up to date from observed runs (EWMA of observed / calibrated), so that predictions
// follow the host's real speed (contention, thermal, noisy neighbours) instead of drifting.
export class LatencyModel {
  private readonly costs: readonly CostTable[];
  private readonly fits: readonly LatencyFit[];
  private readonly corrections: Float64Array;
  private readonly alpha: number;
  // Server time outside the queue and the engine (parsing, tokenizing, answering), EWMA.
  private overhead = 0.3;

  constructor(costs: readonly CostTable[], fits: readonly LatencyFit[], alpha: number) {
    if (costs.length !== fits.length) throw new RangeError('one latency fit per operating point');
    this.costs = costs;
    this.fits = fits;
    this.corrections = new Float64Array(costs.length).fill(1);
    this.alpha = alpha;
  }

  // The calibrated time, without the online correction.
  calibratedMs(point: number, batch: number, tokens: number): number {
    const fit = this.fits[point]!;
    return fit.fixedMs + (fit.msPerGflop * this.costs[point]!.flops(batch, tokens)) / 1e9;
  }

  // The time one call of this point on `batch` texts of `tokens` tokens is expected to take now.
  predictMs(point: number, batch: number, tokens: number): number {
    return this.calibratedMs(point, batch, tokens) * this.corrections[point]!;
  }

  // Folds one observed call into the point's correction factor.
  observe(point: number, batch: number, tokens: number, observedMs: number): void {
    const calibrated = this.calibratedMs(point, batch, tokens);
    if (!(calibrated > 0) || !Number.isFinite(observedMs) || observedMs < 0) return;
    const ratio = Math.min(MAX_CORRECTION, Math.max(MIN_CORRECTION, observedMs / calibrated));
    const next = (1 - this.alpha) * this.corrections[point]! + this.alpha * ratio;
    this.corrections[point] = Math.min(MAX_CORRECTION, Math.max(MIN_CORRECTION, next));
  }

  // The current correction factor of a point (1 = as calibrated).
  correction(point: number): number {
    return this.corrections[point]!;
  }

  fit(point: number): LatencyFit {
    return this.fits[point]!;
  }

  // Expected server time outside queue and engine, in milliseconds.
  get overheadMs(): number {
    return this.overhead;
  }

  observeOverhead(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.overhead = (1 - this.alpha) * this.overhead + this.alpha * Math.min(ms, 1000);
  }
}
