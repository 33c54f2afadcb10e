import { z } from 'zod';
import { oneLine } from './zod-one-line.ts';

// The parts of the serving API's answers the harness reads (its own schemas: it knows the API over HTTP only).
export const CatalogPointSchema = z.looseObject({
  id: z.string().min(1),
  config: z.looseObject({ tokens: z.number() }),
  flops: z.number(),
  memoryBytes: z.number(),
  devAccuracy: z.number(),
  calibratedLatencyMs: z.number(),
  // Predicted now: calibration times the online correction.
  latencyMs: z.number().optional(),
});
export type CatalogPoint = z.infer<typeof CatalogPointSchema>;

export const ModelDescriptionSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  host: z.looseObject({ engine: z.string(), workers: z.number() }),
  catalog: z.array(CatalogPointSchema).min(1),
});
export type ModelDescription = z.infer<typeof ModelDescriptionSchema>;

const ModelListSchema = z.looseObject({
  models: z.array(z.looseObject({ name: z.string(), ready: z.boolean().optional() })),
});

const PredictAnswerSchema = z.looseObject({
  subnet: z.looseObject({ id: z.string(), accuracy: z.number(), memoryBytes: z.number() }),
  budget: z.looseObject({ met: z.boolean() }),
});

// Thrown when the API answers something the harness cannot use.
export class ApiError extends Error {
  override readonly name = 'ApiError';
}

// A small client for the endpoints the harness needs besides the load itself (127.0.0.1 or a given URL).
export class ApiClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  // Polls GET /v2/health/ready until it answers 200; `alive` lets the caller stop early (a server that died).
  async waitUntilReady(timeoutMs: number, alive: () => string | undefined = () => undefined): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < until) {
      const dead = alive();
      if (dead !== undefined) throw new ApiError(`the server stopped before it was ready: ${dead}`);
      try {
        const response = await fetch(`${this.baseUrl}/v2/health/ready`, {
          signal: AbortSignal.timeout(2000),
        });
        await response.arrayBuffer();
        if (response.status === 200) return;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new ApiError(`${this.baseUrl} was not ready after ${Math.round(timeoutMs / 1000)} s (${last})`);
  }

  // Every model the server lists as ready, in its order.
  async modelNames(): Promise<string[]> {
    const list = ModelListSchema.parse(await this.getJson('/v1/models'));
    return list.models.filter((m) => m.ready !== false).map((m) => m.name);
  }

  // The one model served (or the one named).
  async modelName(wanted: string | undefined): Promise<string> {
    const list = ModelListSchema.parse(await this.getJson('/v1/models'));
    const names = list.models.map((m) => m.name);
    if (wanted !== undefined) {
      if (!names.includes(wanted))
        throw new ApiError(`model '${wanted}' is not served (served: ${names.join(', ')})`);
      return wanted;
    }
    const first = names[0];
    if (first === undefined) throw new ApiError('the server serves no model');
    return first;
  }

  // GET /v1/models/{model}: the catalog with this host's calibrated latencies.
  async describeModel(model: string): Promise<ModelDescription> {
    const parsed = ModelDescriptionSchema.safeParse(
      await this.getJson(`/v1/models/${encodeURIComponent(model)}`),
    );
    if (!parsed.success) throw new ApiError(`GET /v1/models/${model}: ${oneLine(parsed.error)}`);
    return parsed.data;
  }

  // One predict request; returns the server time (Server-Timing total), the operating point and the status.
  async predict(
    model: string,
    text: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; timing: Record<string, number | undefined>; subnet: string | undefined }> {
    const response = await fetch(`${this.baseUrl}/v1/models/${encodeURIComponent(model)}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ inputs: [text] }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await response.text();
    const timing = parseServerTiming(response.headers.get('server-timing') ?? undefined);
    let subnet: string | undefined;
    if (response.status === 200) subnet = parsePredictAnswer(body)?.subnet;
    return { status: response.status, timing, subnet };
  }

  // GET /metrics as name{labels} -> value (undefined when the server has no /metrics).
  async scrapeMetrics(): Promise<Map<string, number> | undefined> {
    try {
      const response = await fetch(`${this.baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      const text = await response.text();
      if (response.status !== 200) return undefined;
      return parsePrometheusText(text);
    } catch {
      return undefined;
    }
  }

  private async getJson(path: string): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    if (response.status !== 200)
      throw new ApiError(`GET ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new ApiError(`GET ${path}: not JSON`, { cause });
    }
  }
}

// Engine calls and texts per operating point so far, from the serving_batch_texts histogram of /metrics.
export function batchCounters(
  metrics: ReadonlyMap<string, number>,
): Map<string, { calls: number; texts: number }> {
  const out = new Map<string, { calls: number; texts: number }>();
  for (const [key, value] of metrics) {
    const m = /^serving_batch_texts_(sum|count)\{(?:model="[^"]*",)?subnet="([^"]+)"\}$/.exec(key);
    if (!m) continue;
    const entry = out.get(m[2]!) ?? { calls: 0, texts: 0 };
    if (m[1] === 'sum') entry.texts = value;
    else entry.calls = value;
    out.set(m[2]!, entry);
  }
  return out;
}

// The durations of a Server-Timing header (`queue;dur=0.1, inference;dur=2.3, total;dur=2.9`), in ms.
export function parseServerTiming(header: string | undefined): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  if (header === undefined) return out;
  for (const part of header.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*;.*?\bdur=([0-9.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// The operating point, its accuracy and memory, and whether the budget was met, from a 2xx predict body.
export function parsePredictAnswer(
  body: string,
): { subnet: string; accuracy: number; memoryBytes: number; met: boolean } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = PredictAnswerSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { subnet, budget } = parsed.data;
  return { subnet: subnet.id, accuracy: subnet.accuracy, memoryBytes: subnet.memoryBytes, met: budget.met };
}

// Prometheus text exposition: `name{labels} value` lines (comments skipped) keyed by `name{labels}`.
export function parsePrometheusText(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?)\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (Number.isFinite(value)) values.set(m[1]!, value);
  }
  return values;
}
