import type { CostTable } from '../src/model/accounting.ts';
import type { LatencyModel } from './latency-model.ts';

// The catalog as selection reads it, precomputed once per model version: points ordered by dev accuracy,
// most accurate first (ties: fewer FLOPs first, then the operating point id).
export interface SelectionTable {
  // Operating point indices, most accurate first.
  order: readonly number[];
  accuracy: readonly number[];
  tokens: readonly number[];
  costs: readonly CostTable[];
  latency: LatencyModel;
  // Dev accuracies closer than this (0 to 1) count as equal, and the tie goes to the cheaper point (cheaperPoint):
  // a catalog measured on a few thousand reviews cannot rank points a fraction of a standard error apart.
  tieTolerance: number;
  // A request without a latency budget takes the most accurate point while its expected wait is at most this
  // (ms); past it, the cheapest point that meets its other budgets: its work would otherwise hold the engine from
  // budgeted requests, which its own loose deadline lets it queue behind but not stop once started.
  noBudgetBacklogMs?: number;
  // Under load, the tie widens: from `from` utilization of the engine (0 to 1) to `to`, linearly, up to
  // `accuracy` more dev accuracy counts as equal, so the faster point is taken: a request that picks a slower
  // point for a few tenths of a point adds to the queue of every request behind it. Off on the server unless
  // LOAD_TRADE_ACCURACY is set (on the 2-core test host it bought no measurable attainment; README).
  loadTrade?: { from: number; to: number; accuracy: number };
}

// The accuracy tie at this engine utilization: tieTolerance, widened by the load trade.
export function tieAt(table: SelectionTable, utilization: number): number {
  const trade = table.loadTrade;
  if (trade === undefined || trade.accuracy === 0 || utilization <= trade.from) return table.tieTolerance;
  const ramp = trade.to <= trade.from ? 1 : Math.min(1, (utilization - trade.from) / (trade.to - trade.from));
  return table.tieTolerance + ramp * trade.accuracy;
}

// One request as selection sees it.
export interface SelectionRequest {
  // Texts in the request (the batch).
  texts: number;
  // Tokens of its longest text, [CLS] and [SEP] included, before truncation (or any figure at or above the
  // longest point's tokens when longer: only min(longest, point tokens) counts).
  longest: number;
  // Server time already spent on it.
  elapsedMs: number;
  // Expected queueing before it would start (Scheduler.expectedWaitMs).
  waitMs: number;
  // The engine's recent busy share, 0 to 1 (Scheduler.utilization); widens the accuracy tie under load.
  utilization?: number;
  latencyMs: number | undefined;
  memoryBytes: number | undefined;
  minAccuracy: number | undefined;
  mode: 'best-effort' | 'strict';
  // A pinned operating point: selection only judges it.
  pinned: number | undefined;
}

// What selection decided.
export type Selection =
  | {
      kind: 'chosen';
      point: number;
      // Tokens its rows are padded to at this point.
      tokens: number;
      inferenceMs: number;
      // Predicted server time for the whole request: elapsed + queueing + inference + overhead.
      expectedMs: number;
      // Whether the prediction meets every budget.
      met: boolean;
    }
  // Strict mode: no point meets the budget even on an idle server (422).
  | { kind: 'impossible'; reason: string }
  // Strict mode: a point would meet it on an idle server, none does with the current queue (503).
  | { kind: 'not-now'; retryAfterMs: number; reason: string };

// Chooses the most accurate operating point whose predicted total time (elapsed, expected queueing, inference
// for this batch and token count with headroom for its observed spread, overhead) fits the latency budget, whose
// memory (weights + activations for this batch and token count) fits the memory budget and whose dev accuracy
// meets the floor; among the fitting points tied with it (within `tieTolerance`, widened under load by
// `loadTrade`), the cheapest (cheaperPoint); for a request without a latency budget on a backlogged server
// (`noBudgetBacklogMs`), the cheapest fitting point. When none fits,
// strict mode refuses (impossible vs not now), best-effort serves the closest fit: the least summed relative
// violation of the budgets (ties: the more accurate). O(points x layers), no allocation.
export function selectOperatingPoint(table: SelectionTable, request: SelectionRequest): Selection {
  const { latencyMs, memoryBytes, minAccuracy } = request;
  const overhead = request.elapsedMs + table.latency.overheadMs;
  // A backlogged server serves requests without a latency budget at the cheapest point that fits them.
  const economize =
    latencyMs === undefined && request.waitMs > (table.noBudgetBacklogMs ?? Number.POSITIVE_INFINITY);
  let idleFits = false;
  let best = -1;
  let bestViolation = Number.POSITIVE_INFINITY;
  let bestTokens = 0;
  let bestInference = 0;
  let fit = -1;
  let fitTokens = 0;
  let fitInference = Number.POSITIVE_INFINITY;
  let fitFlops = Number.POSITIVE_INFINITY;
  let tiedDownTo = Number.NEGATIVE_INFINITY;
  const tie = tieAt(table, request.utilization ?? 0);
  const order = table.order;
  for (let i = 0; i < order.length; i++) {
    const p = order[i]!;
    if (request.pinned !== undefined && p !== request.pinned) continue;
    // Points are most accurate first: past the tie, nothing can replace the fit found.
    if (table.accuracy[p]! < tiedDownTo) break;
    const tokens = Math.min(request.longest, table.tokens[p]!);
    const inference = table.latency.predictMs(p, request.texts, tokens);
    // Budgets are checked against a pessimistic prediction (the margin, or headroom for the point's spread);
    // whether a budget is impossible even when idle, against the idle prediction.
    const guardedAlone = overhead + table.latency.budgetMs(p, request.texts, tokens, latencyMs);
    const memoryOk =
      memoryBytes === undefined || table.costs[p]!.memoryBytes(request.texts, tokens) <= memoryBytes;
    const accuracyOk = minAccuracy === undefined || table.accuracy[p]! >= minAccuracy;
    if (memoryOk && accuracyOk) {
      if (latencyMs === undefined || guardedAlone + request.waitMs <= latencyMs) {
        if (fit < 0) tiedDownTo = economize ? Number.NEGATIVE_INFINITY : table.accuracy[p]! - tie;
        const flops = table.costs[p]!.flops(request.texts, tokens);
        if (fit < 0 || cheaperPoint(table, p, inference, flops, fit, fitInference, fitFlops)) {
          fit = p;
          fitTokens = tokens;
          fitInference = inference;
          fitFlops = flops;
        }
        continue;
      }
      if (overhead + table.latency.idleBudgetMs(p, request.texts, tokens) <= latencyMs) idleFits = true;
    }
    if (request.mode === 'strict' || fit >= 0) continue;
    // Judged on the guarded prediction too: the closest fit is the one likeliest to come near the budget.
    const guarded = guardedAlone + request.waitMs;
    let violation = 0;
    if (latencyMs !== undefined && guarded > latencyMs) violation += guarded / latencyMs - 1;
    if (!memoryOk) violation += table.costs[p]!.memoryBytes(request.texts, tokens) / memoryBytes! - 1;
    if (!accuracyOk) violation += (minAccuracy! - table.accuracy[p]!) / minAccuracy!;
    if (violation < bestViolation) {
      bestViolation = violation;
      best = p;
      bestTokens = tokens;
      bestInference = inference;
    }
  }
  const before = overhead + request.waitMs;
  if (fit >= 0) return chosen(fit, fitTokens, fitInference, before, true);
  if (request.mode === 'best-effort' && best >= 0)
    return chosen(best, bestTokens, bestInference, before, false);
  if (idleFits) {
    return {
      kind: 'not-now',
      retryAfterMs: request.waitMs,
      reason: `no operating point meets the latency budget of ${latencyMs} ms with the current queue (about ${request.waitMs.toFixed(1)} ms)`,
    };
  }
  return { kind: 'impossible', reason: describeImpossible(table, request) };
}

// Relative noise of a latency prediction below which it does not rank two points: the spread calls of a point
// show around their prediction, never taken as less than this. Calibrating the same artifact twice on a busy
// host moves a point's prediction by up to about this much.
export const MIN_LATENCY_NOISE = 0.2;

// Whether point `a` is the cheaper choice than point `b` for one request (`*Ms` their predicted inference, `*Flops`
// their FLOPs for its shape): the faster when the predictions are apart by more than their noise (a's prediction
// plus its noise still below b's minus its), else the one with fewer FLOPs; on equal FLOPs, neither (the first
// in the catalog order, most accurate and then the operating point id, stays). So noise in a calibration or an
// online correction cannot flip a choice that FLOPs decide, and a reload of the same artifact chooses alike.
export function cheaperPoint(
  table: SelectionTable,
  a: number,
  aMs: number,
  aFlops: number,
  b: number,
  bMs: number,
  bFlops: number,
): boolean {
  const aNoise = Math.max(MIN_LATENCY_NOISE, table.latency.spread(a));
  const bNoise = Math.max(MIN_LATENCY_NOISE, table.latency.spread(b));
  if (aMs * (1 + aNoise) < bMs * (1 - bNoise)) return true;
  if (bMs * (1 + bNoise) < aMs * (1 - aNoise)) return false;
  return aFlops < bFlops;
}

function chosen(
  point: number,
  tokens: number,
  inferenceMs: number,
  beforeMs: number,
  met: boolean,
): Selection {
  return { kind: 'chosen', point, tokens, inferenceMs, expectedMs: beforeMs + inferenceMs, met };
}

// Why no point can meet the budget even when idle: the best each budget could get, judged as selection judges it
// (the idle prediction with headroom for the spread, which decides a 422), for the problem detail.
function describeImpossible(table: SelectionTable, request: SelectionRequest): string {
  const parts: string[] = [];
  const candidates =
    request.pinned === undefined ? table.order : table.order.filter((p) => p === request.pinned);
  let fastest = Number.POSITIVE_INFINITY;
  let smallest = Number.POSITIVE_INFINITY;
  let mostAccurate = 0;
  for (const p of candidates) {
    const tokens = Math.min(request.longest, table.tokens[p]!);
    fastest = Math.min(
      fastest,
      request.elapsedMs + table.latency.overheadMs + table.latency.idleBudgetMs(p, request.texts, tokens),
    );
    smallest = Math.min(smallest, table.costs[p]!.memoryBytes(request.texts, tokens));
    mostAccurate = Math.max(mostAccurate, table.accuracy[p]!);
  }
  const pinned = request.pinned !== undefined;
  if (request.latencyMs !== undefined) {
    parts.push(
      `latency budget ${request.latencyMs} ms (${pinned ? 'it needs' : 'the fastest needs'} ${fastest.toFixed(2)} ms on an idle server, headroom for its spread included)`,
    );
  }
  if (request.memoryBytes !== undefined) {
    parts.push(
      `memory budget ${(request.memoryBytes / 1048576).toFixed(3)} MiB (${pinned ? 'it needs' : 'the smallest needs'} ${(smallest / 1048576).toFixed(3)} MiB)`,
    );
  }
  if (request.minAccuracy !== undefined) {
    parts.push(
      `accuracy floor ${request.minAccuracy} (${pinned ? 'it has' : 'the best has'} ${mostAccurate})`,
    );
  }
  const scope = pinned ? 'the pinned operating point cannot meet' : 'no operating point can meet';
  return `${scope} ${parts.join(', ')}${parts.length > 1 ? ' together' : ''}, even on an idle server`;
}
