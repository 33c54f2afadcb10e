import type { FastifyReply } from 'fastify';
import type { ServingConfig } from './config.ts';
import type { ModelRepository } from './model-repository.ts';
import type { Prediction } from './predict.ts';
import { ServingError } from './serving-error.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { ServingModel } from './serving-model.ts';

// What every route handler shares.
export interface RouteContext {
  config: ServingConfig;
  models: ModelRepository;
  metrics: ServingMetrics;
}

// How many model names a 404 lists before it gives a count of the rest.
const NAMES_SHOWN = 5;

// The model a request for `name` is served by: 503 while it loads or the server closes, 404 naming the models
// served for a name that is none of them.
export function modelFor(models: ModelRepository, name: string): ServingModel {
  if (models.isClosed) {
    throw new ServingError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterS: 1 });
  }
  const host = models.host(name);
  if (!host) {
    const names = models.names();
    if (names.length === 0) {
      const why = models.notReady()[0]?.reason ?? 'no model is loaded yet';
      throw new ServingError('NOT_READY', why, { retryAfterS: 5 });
    }
    throw new ServingError('UNKNOWN_MODEL', `no model '${name.slice(0, 128)}'; ${describeNames(names)}`);
  }
  const model = host.model;
  if (!model) throw new ServingError('NOT_READY', host.notReadyReason, { retryAfterS: 5 });
  if (model.scheduler.liveSlots === 0) {
    throw new ServingError('NOT_READY', 'no inference worker is alive; they are being restarted', {
      retryAfterS: 5,
    });
  }
  return model;
}

// "this server serves 'a'", "... serves 'a', 'b' and 'c'", or the first few and how many more.
export function describeNames(names: readonly string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).map((n) => `'${n}'`);
  const more = names.length - shown.length;
  if (more > 0) return `this server serves ${shown.join(', ')} and ${more} more (GET /v1/models lists them)`;
  if (shown.length === 1) return `this server serves ${shown[0]}`;
  return `this server serves ${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}`;
}

// Sets the answer's Subnet-Id, Budget-Met and Server-Timing headers and records the request's budget and timings.
export function recordPrediction(
  reply: FastifyReply,
  prediction: Prediction,
  metrics: ServingMetrics,
  route: string,
  model: string,
): void {
  const subnet = prediction.point.id;
  reply.header('subnet-id', subnet);
  reply.header('budget-met', String(prediction.budget.met));
  reply.header(
    'server-timing',
    `queue;dur=${prediction.queueMs.toFixed(3)}, inference;dur=${prediction.inferenceMs.toFixed(3)}, total;dur=${prediction.totalMs.toFixed(3)}`,
  );
  metrics.queueSeconds.observe({ model, subnet }, prediction.queueMs / 1000);
  metrics.inferenceSeconds.observe({ model, subnet }, prediction.inferenceMs / 1000);
  metrics.requestSeconds.observe({ model, route, subnet }, prediction.totalMs / 1000);
  metrics.budgets.inc({
    model,
    outcome: prediction.budget.met ? 'met' : 'missed',
    mode: prediction.budget.mode,
  });
}

// The config a request runs with: a client's own truncation choice (Hugging Face's `truncation`, TEI's
// `truncate`) in place of TOKEN_LIMIT.
export function withTruncation(config: ServingConfig, truncate: boolean | null | undefined): ServingConfig {
  if (truncate === undefined || truncate === null) return config;
  const tokenLimit = truncate ? 'truncate' : 'reject';
  return tokenLimit === config.tokenLimit ? config : { ...config, tokenLimit };
}

// When the server received the request, on performance.now()'s clock.
export function receivedAt(reply: FastifyReply): number {
  return performance.now() - reply.elapsedTime;
}
