import type { CostTable } from '../src/model/accounting.ts';

// One operating point's calibrated latency: a fixed cost per call plus a cost per GFLOP of work.
export interface LatencyFit {
  fixedMs: number;
  msPerGflop: number;
}

const MIN_CORRECTION = 0.2;
const MAX_CORRECTION = 5;
// Relative spread of a call's time around its prediction before any is observed.
const INITIAL_SPREAD = 0.2;

// How budget checks and stale corrections behave (defaults: the server's).
export interface LatencyModelOptions {
  // How many spreads above the prediction a budget check allows for (1.5: about the 90th percentile).
  headroomSpreads?: number;
  // Points not being served drift toward the host-wide correction this much slower than a served point moves.
  stalePull?: number;
  // The share of latency-budgeted requests whose server time the budget check should cover (0.99: 99%).
  targetQuantile?: number;
  // The clock residual ages are measured on (tests inject one).
  now?: () => number;
  // The group of each operating point: points of one subnet (the same weights read to different token counts)
  // run the same call for the same batch and tokens, so they share one fit (the mean of theirs) and one
  // correction. Without it, each point is its own group, and calibration noise or a correction learned from a
  // few calls can rank a point reading 128 tokens above its sibling reading 160.
  groups?: readonly number[];
}

// How many latency-budgeted requests the margin remembers, for how long, and how many it needs (within that
// time) before it replaces the headroom.
const RESIDUAL_WINDOW = 1024;
const RESIDUAL_MAX_AGE_MS = 30_000;
const RESIDUAL_WARMUP = 64;
// Latency budgets within a factor of this of each other form one budget class, with a margin of its own.
const BUDGET_CLASS_RATIO = Math.SQRT2;

// How much later than predicted recent requests finished (a ring buffer, with when), and the targetQuantile of
// those at most RESIDUAL_MAX_AGE_MS old, refreshed every few observations or every second; undefined while too
// few are recent.
class ResidualWindow {
  private readonly residuals = new Float64Array(RESIDUAL_WINDOW);
  private readonly times = new Float64Array(RESIDUAL_WINDOW);
  private count = 0;
  private sinceRefresh = 0;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private margin: number | undefined;

  add(residualMs: number, now: number): void {
    const slot = this.count % RESIDUAL_WINDOW;
    this.residuals[slot] = Math.min(residualMs, 60_000);
    this.times[slot] = now;
    this.count++;
    this.sinceRefresh++;
  }

  quantile(quantile: number, now: number): number | undefined {
    if (this.sinceRefresh >= 16 || now - this.refreshedAt >= 1000) {
      this.sinceRefresh = 0;
      this.refreshedAt = now;
      const recent: number[] = [];
      const held = Math.min(this.count, RESIDUAL_WINDOW);
      for (let i = 0; i < held; i++) {
        if (now - this.times[i]! <= RESIDUAL_MAX_AGE_MS) recent.push(this.residuals[i]!);
      }
      if (recent.length < RESIDUAL_WARMUP) this.margin = undefined;
      else {
        recent.sort((a, b) => a - b);
        const rank = Math.min(recent.length - 1, Math.ceil(quantile * (recent.length + 1)) - 1);
        this.margin = Math.max(0, recent[rank]!);
      }
    }
    return this.margin;
  }
}

// Predicted inference time per operating point for any batch and token count: the host calibration (fit) times
// a correction factor kept up to date from observed runs (EWMA of observed / calibrated), so that predictions
// follow the host's real speed (contention, thermal, noisy neighbours) instead of drifting.
export class LatencyModel {
  private readonly costs: readonly CostTable[];
  // Per group (LatencyModelOptions.groups), as are corrections and spreads.
  private readonly fits: readonly LatencyFit[];
  private readonly groupOf: Int32Array;
  private readonly corrections: Float64Array;
  // EWMA of |observed / predicted - 1| per group: how far calls stray from their prediction.
  private readonly spreads: Float64Array;
  private readonly alpha: number;
  // EWMA of observed / calibrated over every call: how fast the host runs now, all points together.
  private hostCorrection = 1;
  private readonly headroomSpreads: number;
  private readonly stalePull: number;
  // Server time outside the queue and the engine (parsing, tokenizing, answering), EWMA.
  private overhead = 0.3;
  // How much later than predicted recent requests that were predicted to fit their budget finished: all of them,
  // and per budget class (budgets within BUDGET_CLASS_RATIO of each other).
  private readonly residuals = new ResidualWindow();
  private readonly classResiduals = new Map<number, ResidualWindow>();
  private readonly targetQuantile: number;
  private readonly now: () => number;

  constructor(
    costs: readonly CostTable[],
    fits: readonly LatencyFit[],
    alpha: number,
    options: LatencyModelOptions = {},
  ) {
    if (costs.length !== fits.length) throw new RangeError('one latency fit per operating point');
    const groups = options.groups ?? costs.map((_, i) => i);
    if (groups.length !== costs.length) throw new RangeError('one latency group per operating point');
    const ids = [...new Set(groups)];
    const index = new Map(ids.map((g, i) => [g, i]));
    this.groupOf = Int32Array.from(groups, (g) => index.get(g)!);
    this.fits = ids.map((_, i) => {
      const members = fits.filter((_, p) => this.groupOf[p] === i);
      return {
        fixedMs: members.reduce((sum, f) => sum + f.fixedMs, 0) / members.length,
        msPerGflop: members.reduce((sum, f) => sum + f.msPerGflop, 0) / members.length,
      };
    });
    this.costs = costs;
    this.corrections = new Float64Array(ids.length).fill(1);
    this.spreads = new Float64Array(ids.length).fill(INITIAL_SPREAD);
    this.alpha = alpha;
    this.headroomSpreads = options.headroomSpreads ?? 1.5;
    this.stalePull = options.stalePull ?? 1 / 8;
    this.targetQuantile = options.targetQuantile ?? 0.99;
    this.now = options.now ?? (() => performance.now());
  }

  // The calibrated time, without the online correction.
  calibratedMs(point: number, batch: number, tokens: number): number {
    const fit = this.fits[this.groupOf[point]!]!;
    return fit.fixedMs + (fit.msPerGflop * this.costs[point]!.flops(batch, tokens)) / 1e9;
  }

  // The time one call of this point on `batch` texts of `tokens` tokens is expected to take now.
  predictMs(point: number, batch: number, tokens: number): number {
    return this.calibratedMs(point, batch, tokens) * this.corrections[this.groupOf[point]!]!;
  }

  // A pessimistic prediction for budget checks, so that jitter does not turn a pick that just fits into a miss.
  // When enough recent requests were predicted to fit their budget, the prediction plus the margin: the
  // targetQuantile of how much later than predicted they finished (queueing, overhead and engine errors
  // together; an empirical quantile, in the manner of split conformal prediction). Otherwise idleBudgetMs.
  // Given the request's latency budget, the margin of its budget class once that class has enough requests of
  // its own (conformal per class, so that the target holds for each class and not only on average: requests
  // of a middle budget take larger points and are overtaken by tighter ones, and finish later than predicted
  // more often than the rest); until then the margin over every class.
  budgetMs(point: number, batch: number, tokens: number, latencyBudgetMs?: number): number {
    const margin = this.marginFor(latencyBudgetMs);
    if (margin === undefined) return this.idleBudgetMs(point, batch, tokens);
    return this.predictMs(point, batch, tokens) + margin;
  }

  // The prediction plus headroom for this point's observed spread: what an idle server needs, which decides
  // whether a budget is impossible (422) rather than impossible now.
  idleBudgetMs(point: number, batch: number, tokens: number): number {
    return (
      this.predictMs(point, batch, tokens) * (1 + this.headroomSpreads * this.spreads[this.groupOf[point]!]!)
    );
  }

  // Folds in one answered request that selection predicted would meet its latency budget: its predicted and its
  // actual server time, and its budget (for the margin of its class).
  observeRequest(predictedMs: number, actualMs: number, latencyBudgetMs?: number): void {
    if (!Number.isFinite(predictedMs) || !Number.isFinite(actualMs)) return;
    const now = this.now();
    this.residuals.add(actualMs - predictedMs, now);
    const budgetClass = budgetClassOf(latencyBudgetMs);
    if (budgetClass === undefined) return;
    let window = this.classResiduals.get(budgetClass);
    if (window === undefined) {
      window = new ResidualWindow();
      this.classResiduals.set(budgetClass, window);
    }
    window.add(actualMs - predictedMs, now);
  }

  // The margin over every budget class (0 while too few recent requests were seen).
  get marginMs(): number {
    return this.residuals.quantile(this.targetQuantile, this.now()) ?? 0;
  }

  // The margin of a latency budget's class (0 while too few recent requests of it or of any class were seen).
  marginForMs(latencyBudgetMs: number): number {
    return this.marginFor(latencyBudgetMs) ?? 0;
  }

  private marginFor(latencyBudgetMs: number | undefined): number | undefined {
    const now = this.now();
    const budgetClass = budgetClassOf(latencyBudgetMs);
    const own =
      budgetClass === undefined
        ? undefined
        : this.classResiduals.get(budgetClass)?.quantile(this.targetQuantile, now);
    return own ?? this.residuals.quantile(this.targetQuantile, now);
  }

  // Folds one observed call into its group's correction factor and spread; groups not being served drift
  // slowly toward the host-wide correction, so a correction learned once does not stick forever.
  observe(point: number, batch: number, tokens: number, observedMs: number): void {
    const calibrated = this.calibratedMs(point, batch, tokens);
    if (!(calibrated > 0) || !Number.isFinite(observedMs) || observedMs < 0) return;
    const ratio = clampCorrection(observedMs / calibrated);
    const group = this.groupOf[point]!;
    const surprise = Math.abs(ratio / this.corrections[group]! - 1);
    this.spreads[group] = (1 - this.alpha) * this.spreads[group]! + this.alpha * Math.min(surprise, 4);
    this.corrections[group] = clampCorrection(
      (1 - this.alpha) * this.corrections[group]! + this.alpha * ratio,
    );
    this.hostCorrection = clampCorrection((1 - this.alpha) * this.hostCorrection + this.alpha * ratio);
    const pull = this.alpha * this.stalePull;
    for (let q = 0; q < this.corrections.length; q++) {
      if (q !== group)
        this.corrections[q] = this.corrections[q]! + pull * (this.hostCorrection - this.corrections[q]!);
    }
  }

  // How far calls of a point stray from their prediction (EWMA of the relative error).
  spread(point: number): number {
    return this.spreads[this.groupOf[point]!]!;
  }

  // The current correction factor of a point (1 = as calibrated).
  correction(point: number): number {
    return this.corrections[this.groupOf[point]!]!;
  }

  fit(point: number): LatencyFit {
    return this.fits[this.groupOf[point]!]!;
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

// The class of a latency budget: budgets within BUDGET_CLASS_RATIO of each other share one (undefined: none).
function budgetClassOf(latencyBudgetMs: number | undefined): number | undefined {
  if (latencyBudgetMs === undefined || !(latencyBudgetMs > 0) || !Number.isFinite(latencyBudgetMs))
    return undefined;
  return Math.round(Math.log(latencyBudgetMs) / Math.log(BUDGET_CLASS_RATIO));
}

function clampCorrection(value: number): number {
  return Math.min(MAX_CORRECTION, Math.max(MIN_CORRECTION, value));
}
