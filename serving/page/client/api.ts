// The public API as the page calls it (the same routes and shapes any client uses; README, HTTP API).

export interface ModelSummary {
  name: string;
  version: string;
  ready: boolean;
  operatingPoints: number;
}

// What GET /v1/models says of a model that is not loaded yet.
interface ListedModel {
  name: string;
  version: string | null;
  ready: boolean;
  operatingPoints: number | null;
}

export interface CatalogPoint {
  id: string;
  params: number;
  flops: number;
  memoryBytes: number;
  devAccuracy: number;
  testAccuracy: number | null;
  latencyMs: number;
  calibratedLatencyMs: number;
  latencyCorrection: number;
  config: {
    layers: ReadonlyArray<{ layer: number; heads: number; ffn: number }>;
    tokens: number;
    precision: Precision;
  };
}

// The precision a point's matmul weights run in.
export type Precision = 'fp32' | 'int8';

export interface ModelDescription {
  name: string;
  version: string;
  labels: string[];
  host: { name: string; engine: string; workers: number; calibrationMs: number };
  catalog: CatalogPoint[];
}

export interface PredictAnswer {
  model: string;
  version: string;
  subnet: { id: string; accuracy: number; expectedLatencyMs: number; memoryBytes: number; flops: number };
  budget: {
    latencyMs: number | null;
    memoryMb: number | null;
    minAccuracy: number | null;
    mode: string;
    met: boolean;
  };
  outputs: Array<{ label: string; score: number; scores: Record<string, number> }>;
}

// RFC 9457 problem details, as every error of the API comes.
export interface Problem {
  title: string;
  status: number;
  detail: string;
  code: string;
}

// An input of a single-text model is a string; of a pair model, both texts.
export type PredictInput = string | { text: string; text_pair: string };

// Budgets as headers (DESIGN.md, The HTTP contract); undefined ones are not sent.
export interface Budget {
  latencyMs: number | undefined;
  memoryMb: number | undefined;
  minAccuracy: number | undefined;
  mode: 'best-effort' | 'strict';
}

export type PredictResult =
  | { ok: true; answer: PredictAnswer; serverTiming: string | null; roundTripMs: number }
  | { ok: false; problem: Problem; roundTripMs: number };

// Thrown for an answer that is neither what the route promises nor a problem.
export class ApiError extends Error {
  override readonly name = 'ApiError';
}

async function json<T>(response: Response): Promise<T> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json'))
    throw new ApiError(`${response.url}: ${response.status} (${type || 'no content type'})`);
  return (await response.json()) as T;
}

async function problemOf(response: Response): Promise<Problem> {
  const body = await json<Partial<Problem>>(response).catch(() => ({}) as Partial<Problem>);
  return {
    title: body.title ?? response.statusText,
    status: body.status ?? response.status,
    detail: body.detail ?? '',
    code: body.code ?? 'UNKNOWN',
  };
}

// A model's path segment.
const modelPath = (model: string) => `/v1/models/${encodeURIComponent(model)}`;

// GET /v1/models: the models ready to answer.
export async function listModels(): Promise<ModelSummary[]> {
  const response = await fetch('/v1/models', { cache: 'no-store' });
  if (!response.ok) throw new ApiError(`GET /v1/models: ${(await problemOf(response)).detail}`);
  const { models } = await json<{ models: ListedModel[] }>(response);
  return models.flatMap((m) =>
    m.ready && m.version !== null && m.operatingPoints !== null
      ? [{ name: m.name, version: m.version, ready: true, operatingPoints: m.operatingPoints }]
      : [],
  );
}

// GET /v1/models/{model}: undefined while the model is not ready (503).
export async function describeModel(model: string): Promise<ModelDescription | Problem> {
  const response = await fetch(modelPath(model), { cache: 'no-store' });
  if (!response.ok) return problemOf(response);
  return json<ModelDescription>(response);
}

// POST /v1/models/{model}/predict with the budget in headers.
export async function predict(model: string, input: PredictInput, budget: Budget): Promise<PredictResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'budget-mode': budget.mode };
  if (budget.latencyMs !== undefined) headers['latency-budget-ms'] = decimal(budget.latencyMs, 3);
  if (budget.memoryMb !== undefined) headers['memory-budget-mb'] = decimal(budget.memoryMb, 2);
  if (budget.minAccuracy !== undefined) headers['min-accuracy'] = decimal(budget.minAccuracy, 4);
  const started = performance.now();
  const response = await fetch(`${modelPath(model)}/predict`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ inputs: [input] }),
  });
  if (!response.ok) {
    const problem = await problemOf(response);
    return { ok: false, problem, roundTripMs: performance.now() - started };
  }
  const answer = await json<PredictAnswer>(response);
  return {
    ok: true,
    answer,
    serverTiming: response.headers.get('server-timing'),
    roundTripMs: performance.now() - started,
  };
}

// GET /metrics (Prometheus text).
export async function scrapeMetrics(): Promise<string> {
  const response = await fetch('/metrics', { cache: 'no-store' });
  if (!response.ok) throw new ApiError(`GET /metrics: ${response.status}`);
  return response.text();
}

// A plain decimal number, as budget headers take (no exponent), without trailing zeros.
function decimal(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, '') || '0';
}

// Whether the model takes text pairs: a pair model says so in its description, as its manifest does
// (`task.input`: 'pair'); a description without a task is of a single-text model.
export function takesPairs(model: ModelDescription): boolean {
  const described = model as unknown as {
    inputKind?: unknown;
    task?: unknown;
  };
  const task = described.task as
    | { inputKind?: unknown; kind?: unknown; input?: unknown }
    | string
    | undefined;
  const kinds = [described.inputKind, task, typeof task === 'object' ? task?.inputKind : undefined];
  if (typeof task === 'object') kinds.push(task?.kind, task?.input);
  return kinds.includes('pair');
}
