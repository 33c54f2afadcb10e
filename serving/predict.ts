import { ModelError } from '../src/errors.ts';
import { inputKindOf, type ModelInput } from '../src/model/task.ts';
import { frameRow, type RowPieces } from '../src/tokenizer/word-piece-tokenizer.ts';
import type { RequestBudget } from './budget.ts';
import type { ServingConfig } from './config.ts';
import type { JobOutcome, SchedulerOutlook } from './scheduler.ts';
import { selectOperatingPoint } from './select-operating-point.ts';
import type { ServedPoint } from './served-point.ts';
import { ServingError } from './serving-error.ts';
import { knownAccuracy, type ServingModel } from './serving-model.ts';

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

// What running one request gave: the point that served it, what that cost, the budget as applied, the raw
// logits [texts, labels] and where the time went. Routes turn the logits into their own outputs.
export interface Inference {
  model: ServingModel;
  point: ServedPoint;
  // Tokens the request's rows were padded to.
  tokens: number;
  flops: number;
  memoryBytes: number;
  expectedLatencyMs: number;
  budget: AppliedBudget;
  // The classifier's raw outputs, [texts, labels] row-major.
  logits: Float32Array;
  queueMs: number;
  inferenceMs: number;
  totalMs: number;
}

// Everything a route needs to answer one inference request: the inference and each text's label probabilities.
export interface Prediction extends Inference {
  outputs: TextOutput[];
}

// The clock the pipeline runs on (performance.now milliseconds).
export type Clock = () => number;

// Runs one request (`infer`) and turns its logits into label probabilities (softmax).
export async function predict(
  model: ServingModel,
  inputs: readonly ModelInput[],
  requested: RequestBudget,
  receivedAt: number,
  config: ServingConfig,
  now: Clock = () => performance.now(),
): Promise<Prediction> {
  const inference = await infer(model, inputs, requested, receivedAt, config, now);
  return { ...inference, outputs: softmaxOutputs(inference.logits, model.labels, inputs.length) };
}

// Runs one request through its stages: check the input's kind (texts or text pairs) and bound it, tokenize it once, apply the budget's defaults, ask the
// scheduler what a new job meets, select the operating point, admit or shed, run, learn from the time it took.
// `receivedAt` is when the server got the request.
export async function infer(
  model: ServingModel,
  inputs: readonly ModelInput[],
  requested: RequestBudget,
  receivedAt: number,
  config: ServingConfig,
  now: Clock = () => performance.now(),
): Promise<Inference> {
  boundInput(inputs, config);
  checkInputKind(model, inputs);
  boundTexts(inputs, config);
  const pinned = pinnedPoint(model, requested.subnetId);
  const tokenized = tokenizeTexts(model, inputs, config);
  const plan = planBudget(requested, receivedAt, config);
  const outlook = model.scheduler.outlook(plan.deadline);
  const elapsedMs = now() - receivedAt;
  const choice = choosePoint(model, tokenized, plan, outlook, elapsedMs, pinned);
  admit(outlook, config);
  const outcome = await runOnPoint(model, tokenized, choice, plan.deadline);
  const totalMs = now() - receivedAt;
  learnLatency(model, plan, choice, outcome, { elapsedMs, totalMs });
  return answerOf(model, inputs.length, plan, choice, outcome, totalMs);
}

// Refuses a request without inputs or with more than MAX_TEXTS.
export function boundInput(inputs: readonly ModelInput[], config: ServingConfig): void {
  if (inputs.length === 0) throw new ServingError('INVALID_REQUEST', 'inputs must hold at least one text');
  if (inputs.length > config.maxTexts) {
    throw new ServingError(
      'TOO_MANY_TEXTS',
      `${inputs.length} texts in one request; at most ${config.maxTexts} (MAX_TEXTS)`,
    );
  }
}

// Refuses inputs of the other kind than the model reads (WRONG_INPUT_KIND), naming what it expects.
export function checkInputKind(model: ServingModel, inputs: readonly ModelInput[]): void {
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

// Refuses a text (either text of a pair) longer than MAX_CHARS_PER_TEXT characters.
export function boundTexts(inputs: readonly ModelInput[], config: ServingConfig): void {
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
}

// The operating point a Subnet-Id pins (an operating point id or a bare subnet id), undefined when none is
// pinned; UNKNOWN_SUBNET for an id not in the catalog.
export function pinnedPoint(model: ServingModel, subnetId: string | undefined): number | undefined {
  if (subnetId === undefined) return undefined;
  const pinned = model.pointById(subnetId);
  if (pinned === undefined) {
    throw new ModelError(
      'UNKNOWN_SUBNET',
      `subnet '${subnetId}' is not in the catalog of ${model.name} version ${model.version} (GET /v1/models/${model.name} lists it)`,
    );
  }
  return pinned;
}

// A request's inputs as wordpieces (no [CLS] or [SEP]; a pair's two texts apart), and its longest row in tokens
// ([CLS] and [SEP] included).
export interface TokenizedTexts {
  pieces: RowPieces[];
  longest: number;
}

// Tokenizes each text once. Refusing a text over the limit (TOKEN_LIMIT=reject) needs its full length;
// truncating one needs only the pieces the longest point can read, so a long text costs the event loop its two
// ends, not its length.
export function tokenizeTexts(
  model: ServingModel,
  inputs: readonly ModelInput[],
  config: ServingConfig,
): TokenizedTexts {
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
  return { pieces, longest };
}

// A request's budget with the server's defaults filled in, and the deadline the scheduler orders it by.
export interface BudgetPlan {
  latencyMs: number | undefined;
  memoryMb: number | undefined;
  memoryBytes: number | undefined;
  minAccuracy: number | undefined;
  mode: 'best-effort' | 'strict';
  deadline: number;
}

// Fills in the default latency budget and mode; a request without a latency budget gets the no-budget deadline.
export function planBudget(requested: RequestBudget, receivedAt: number, config: ServingConfig): BudgetPlan {
  const latencyMs = requested.latencyMs ?? config.defaultLatencyBudgetMs;
  return {
    latencyMs,
    memoryMb: requested.memoryMb,
    memoryBytes: requested.memoryMb === undefined ? undefined : requested.memoryMb * 1024 * 1024,
    minAccuracy: requested.minAccuracy,
    mode: requested.mode ?? config.defaultBudgetMode,
    deadline: receivedAt + (latencyMs ?? config.noBudgetDeadlineMs),
  };
}

// The operating point selection chose, at the tokens the request's rows are padded to there.
export interface PointChoice {
  point: ServedPoint;
  tokens: number;
  // Predicted server time for the whole request.
  expectedMs: number;
  // Whether the prediction met every budget.
  met: boolean;
}

// Selects the operating point for the request's budget, texts and the scheduler's outlook; strict mode's refusals
// become BUDGET_UNSATISFIABLE (no point even when idle) and BUDGET_NOT_MET_NOW (none with this queue).
export function choosePoint(
  model: ServingModel,
  tokenized: TokenizedTexts,
  plan: BudgetPlan,
  outlook: SchedulerOutlook,
  elapsedMs: number,
  pinned: number | undefined,
): PointChoice {
  const selection = selectOperatingPoint(model.table, {
    texts: tokenized.pieces.length,
    longest: tokenized.longest,
    elapsedMs,
    waitMs: outlook.waitMs,
    utilization: outlook.utilization,
    latencyMs: plan.latencyMs,
    memoryBytes: plan.memoryBytes,
    minAccuracy: plan.minAccuracy,
    mode: plan.mode,
    pinned,
  });
  if (selection.kind === 'impossible') throw new ServingError('BUDGET_UNSATISFIABLE', selection.reason);
  if (selection.kind === 'not-now') {
    throw new ServingError('BUDGET_NOT_MET_NOW', selection.reason, {
      retryAfterS: Math.max(1, Math.ceil(selection.retryAfterMs / 1000)),
    });
  }
  return {
    point: model.points[selection.point]!,
    tokens: selection.tokens,
    expectedMs: selection.expectedMs,
    met: selection.met,
  };
}

// Sheds a request the queue is too long for (OVERLOADED, MAX_QUEUE_WAIT_MS).
export function admit(outlook: SchedulerOutlook, config: ServingConfig): void {
  if (outlook.waitMs > config.maxQueueWaitMs) {
    throw new ServingError(
      'OVERLOADED',
      `the queue is about ${Math.round(outlook.waitMs)} ms long, more than ${config.maxQueueWaitMs} ms (MAX_QUEUE_WAIT_MS)`,
      { retryAfterS: Math.max(1, Math.ceil(outlook.waitMs / 1000)) },
    );
  }
}

// Cuts each text's wordpieces to the chosen tokens by the model's truncation rule, frames them as
// `[CLS] ... [SEP]` rows, and queues them on the point; resolves with their logits once their batch has run.
export function runOnPoint(
  model: ServingModel,
  tokenized: TokenizedTexts,
  choice: PointChoice,
  deadline: number,
): Promise<JobOutcome> {
  const cut = { maxTokens: choice.tokens, truncation: model.manifest.tokenizer.truncation };
  const vocabulary = model.tokenizer.vocabulary;
  const rows = tokenized.pieces.map((pieces) => frameRow(pieces, cut, vocabulary));
  return model.scheduler.submit({ point: choice.point, rows, tokens: choice.tokens, deadline });
}

// Feeds the latency model what the request took: the overhead outside queue and engine and, for a request
// predicted to meet a latency budget, how its prediction fared (not those without one, which queue behind every
// budgeted one by design, nor best-effort fallbacks already late).
export function learnLatency(
  model: ServingModel,
  plan: BudgetPlan,
  choice: PointChoice,
  outcome: JobOutcome,
  times: { elapsedMs: number; totalMs: number },
): void {
  model.latency.observeOverhead(times.totalMs - times.elapsedMs - outcome.queueMs - outcome.inferenceMs);
  if (plan.latencyMs !== undefined && choice.met)
    model.latency.observeRequest(choice.expectedMs, times.totalMs, plan.latencyMs);
}

// The inference as a route answers it: this request's cost at the chosen point, and the budget judged on what
// happened.
export function answerOf(
  model: ServingModel,
  texts: number,
  plan: BudgetPlan,
  choice: PointChoice,
  outcome: JobOutcome,
  totalMs: number,
): Inference {
  const { point, tokens } = choice;
  const memoryBytes = point.cost.memoryBytes(texts, tokens);
  const budget = { latencyMs: plan.latencyMs, memoryBytes: plan.memoryBytes, minAccuracy: plan.minAccuracy };
  return {
    model,
    point,
    tokens,
    flops: point.cost.flops(texts, tokens),
    memoryBytes,
    expectedLatencyMs: choice.expectedMs,
    budget: {
      latencyMs: plan.latencyMs ?? null,
      memoryMb: plan.memoryMb ?? null,
      minAccuracy: plan.minAccuracy ?? null,
      mode: plan.mode,
      met: budgetMet(budget, { totalMs, memoryBytes, accuracy: knownAccuracy(point.entry) }),
    },
    logits: outcome.logits,
    queueMs: outcome.queueMs,
    inferenceMs: outcome.inferenceMs,
    totalMs,
  };
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
export function softmaxOutputs(logits: Float32Array, labels: readonly string[], texts: number): TextOutput[] {
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
