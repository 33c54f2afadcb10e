import { ModelError } from '../src/errors.ts';
import { inputKindOf, type ModelInput } from '../src/model/task.ts';
import type { RowPieces } from '../src/tokenizer/word-piece-tokenizer.ts';
import type { RequestBudget } from './budget.ts';
import type { ServingConfig } from './config.ts';
import type { JobOutcome } from './scheduler.ts';
import { selectOperatingPoint } from './select-operating-point.ts';
import { ServingError } from './serving-error.ts';
import { knownAccuracy, type ServedPoint, type ServingModel } from './serving-model.ts';

// One text's answer: the top label, its probability, and every label's.
export interface TextOutput {
  label: string;
  score: number;
  scores: Record<string, number>;
}

// The budget as applied (defaults filled in) and whether the answer met it.
export interface AppliedBudget {
  latencyMs: number | null;
  memoryMb: number | null;
  minAccuracy: number | null;
  mode: 'best-effort' | 'strict';
  met: boolean;
}

// Everything a route needs to answer one inference request.
export interface Prediction {
  model: ServingModel;
  point: ServedPoint;
  // Tokens the request's rows were padded to.
  tokens: number;
  flops: number;
  memoryBytes: number;
  expectedLatencyMs: number;
  budget: AppliedBudget;
  outputs: TextOutput[];
  // The classifier's raw outputs, [texts, labels] row-major.
  logits: Float32Array;
  queueMs: number;
  inferenceMs: number;
  totalMs: number;
}

// The clock the pipeline runs on (performance.now milliseconds).
export type Clock = () => number;

// Runs one request: checks its inputs are of the kind the model reads (texts, or text pairs) and its size
// limits, tokenizes, selects the operating point for its budget (taking the
// queue into account), refuses what strict mode or load shedding must refuse, queues it, and turns logits
// into label probabilities. `receivedAt` is when the server got the request.
export async function predict(
  model: ServingModel,
  inputs: readonly ModelInput[],
  requested: RequestBudget,
  receivedAt: number,
  config: ServingConfig,
  now: Clock = () => performance.now(),
): Promise<Prediction> {
  if (inputs.length === 0) throw new ServingError('INVALID_REQUEST', 'inputs must hold at least one text');
  if (inputs.length > config.maxTexts) {
    throw new ServingError(
      'TOO_MANY_TEXTS',
      `${inputs.length} texts in one request; at most ${config.maxTexts} (MAX_TEXTS)`,
    );
  }
  checkInputKind(model, inputs);
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    const texts: Array<[string, string]> =
      typeof input === 'string'
        ? [['', input]]
        : [
            [' (text)', input.text],
            [' (text_pair)', input.textPair],
          ];
    for (const [which, text] of texts) {
      if (text.length > config.maxCharsPerText) {
        throw new ServingError(
          'TEXT_TOO_LONG',
          `text ${i}${which} has ${text.length} characters; at most ${config.maxCharsPerText} (MAX_CHARS_PER_TEXT)`,
        );
      }
    }
  }
  const pinned = requested.subnetId === undefined ? undefined : model.pointById(requested.subnetId);
  if (requested.subnetId !== undefined && pinned === undefined) {
    throw new ModelError(
      'UNKNOWN_SUBNET',
      `subnet '${requested.subnetId}' is not in the catalog of ${model.name} version ${model.version} (GET /v1/models/${model.name} lists it)`,
    );
  }

  // Refusing a text over the limit needs its full length; truncating one needs only the pieces the longest
  // point can read, so a long text costs the event loop its two ends, not its length.
  const tokenLimit = config.maxTokensPerText ?? model.manifest.tokenizer.maxTokens;
  const { maxTokens, truncation } = model.manifest.tokenizer;
  const pieces = inputs.map((input): RowPieces => {
    if (config.tokenLimit !== 'reject') return model.tokenizer.encodeEnds(input, { maxTokens, truncation });
    if (typeof input === 'string') return model.tokenizer.encode(input);
    return { first: model.tokenizer.encode(input.text), second: model.tokenizer.encode(input.textPair) };
  });
  let longest = 2;
  for (let i = 0; i < pieces.length; i++) {
    const row = pieces[i]!;
    const tokens = row instanceof Int32Array ? row.length + 2 : row.first.length + row.second.length + 3;
    if (config.tokenLimit === 'reject' && tokens > tokenLimit) {
      throw new ServingError(
        'TOO_MANY_TOKENS',
        `text ${i} is ${tokens} tokens; at most ${tokenLimit} (MAX_TOKENS_PER_TEXT, TOKEN_LIMIT=reject)`,
      );
    }
    if (tokens > longest) longest = tokens;
  }

  const latencyMs = requested.latencyMs ?? config.defaultLatencyBudgetMs;
  const mode = requested.mode ?? config.defaultBudgetMode;
  const memoryBytes = requested.memoryMb === undefined ? undefined : requested.memoryMb * 1024 * 1024;
  const deadline = receivedAt + (latencyMs ?? config.noBudgetDeadlineMs);
  const scheduler = model.scheduler;
  const waitMs = scheduler.expectedWaitMs(deadline);
  const selectedAt = now();
  const selection = selectOperatingPoint(model.table, {
    texts: inputs.length,
    longest,
    elapsedMs: selectedAt - receivedAt,
    waitMs,
    utilization: scheduler.utilization(),
    latencyMs,
    memoryBytes,
    minAccuracy: requested.minAccuracy,
    mode,
    pinned,
  });
  if (selection.kind === 'impossible') throw new ServingError('BUDGET_UNSATISFIABLE', selection.reason);
  if (selection.kind === 'not-now') {
    throw new ServingError('BUDGET_NOT_MET_NOW', selection.reason, {
      retryAfterS: Math.max(1, Math.ceil(selection.retryAfterMs / 1000)),
    });
  }
  if (waitMs > config.maxQueueWaitMs) {
    throw new ServingError(
      'OVERLOADED',
      `the queue is about ${Math.round(waitMs)} ms long, more than ${config.maxQueueWaitMs} ms (MAX_QUEUE_WAIT_MS)`,
      { retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) },
    );
  }

  const point = model.points[selection.point]!;
  const memoryUsed = point.cost.memoryBytes(inputs.length, selection.tokens);
  const outcome: JobOutcome = await scheduler.submit({
    point: selection.point,
    pieces,
    tokens: selection.tokens,
    deadline,
  });
  const outputs = toOutputs(outcome.logits, model.labels, inputs.length);
  const totalMs = now() - receivedAt;
  model.latency.observeOverhead(totalMs - (selectedAt - receivedAt) - outcome.queueMs - outcome.inferenceMs);
  // Calibrates the margin on the requests it decides about: those predicted to meet a latency budget (not those
  // without one, which queue behind every budgeted one by design, nor best-effort fallbacks already late).
  if (latencyMs !== undefined && selection.met)
    model.latency.observeRequest(selection.expectedMs, totalMs, latencyMs);
  return {
    model,
    point,
    tokens: selection.tokens,
    flops: point.cost.flops(inputs.length, selection.tokens),
    memoryBytes: memoryUsed,
    expectedLatencyMs: selection.expectedMs,
    budget: {
      latencyMs: latencyMs ?? null,
      memoryMb: requested.memoryMb ?? null,
      minAccuracy: requested.minAccuracy ?? null,
      mode,
      met: budgetMet(
        { latencyMs, memoryBytes, minAccuracy: requested.minAccuracy },
        { totalMs, memoryBytes: memoryUsed, accuracy: knownAccuracy(point.entry) },
      ),
    },
    outputs,
    logits: outcome.logits,
    queueMs: outcome.queueMs,
    inferenceMs: outcome.inferenceMs,
    totalMs,
  };
}

// Refuses inputs of the other kind than the model reads (WRONG_INPUT_KIND), naming what it expects.
function checkInputKind(model: ServingModel, inputs: readonly ModelInput[]): void {
  const kind = model.manifest.task.input;
  const wrong = inputs.findIndex((input) => inputKindOf(input) !== kind);
  if (wrong === -1) return;
  throw new ServingError(
    'WRONG_INPUT_KIND',
    kind === 'pair'
      ? `model ${model.name} classifies text pairs: each input is {"text": "...", "text_pair": "..."}; input ${wrong} is a single text`
      : `model ${model.name} classifies single texts: each input is a string; input ${wrong} is a text pair`,
  );
}

// Whether an answer met every budget it was given, judged on what happened: the measured server time, and the
// memory and accuracy of the point that served it. A best-effort fallback whose prediction missed can still
// have met it; a prediction that fit can still have been late.
export function budgetMet(
  budget: { latencyMs: number | undefined; memoryBytes: number | undefined; minAccuracy: number | undefined },
  served: { totalMs: number; memoryBytes: number; accuracy: number },
): boolean {
  return (
    (budget.latencyMs === undefined || served.totalMs <= budget.latencyMs) &&
    (budget.memoryBytes === undefined || served.memoryBytes <= budget.memoryBytes) &&
    (budget.minAccuracy === undefined || served.accuracy >= budget.minAccuracy)
  );
}

// Softmax of each row of logits [texts, labels], with the top label.
function toOutputs(logits: Float32Array, labels: readonly string[], texts: number): TextOutput[] {
  const n = labels.length;
  const outputs: TextOutput[] = [];
  for (let r = 0; r < texts; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) max = Math.max(max, logits[r * n + j]!);
    let sum = 0;
    const exp = new Array<number>(n);
    for (let j = 0; j < n; j++) {
      exp[j] = Math.exp(logits[r * n + j]! - max);
      sum += exp[j]!;
    }
    const scores: Record<string, number> = {};
    let top = 0;
    for (let j = 0; j < n; j++) {
      exp[j] = exp[j]! / sum;
      scores[labels[j]!] = exp[j]!;
      if (exp[j]! > exp[top]!) top = j;
    }
    outputs.push({ label: labels[top]!, score: exp[top]!, scores });
  }
  return outputs;
}
