import type { FastifyReply } from 'fastify';
import type { ServingConfig } from './config.ts';
import type { ModelHost } from './model-host.ts';
import type { Prediction } from './predict.ts';
import { ServingError } from './serving-error.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { ServingModel } from './serving-model.ts';

// What every route handler shares.
export interface RouteContext {
  config: ServingConfig;
  host: ModelHost;
  metrics: ServingMetrics;
}

// The model a request for `name` is served by: 503 while loading or closing, 404 for another name.
export function modelFor(host: ModelHost, name: string): ServingModel {
  if (host.isClosed)
    throw new ServingError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterS: 1 });
  const model = host.model;
  if (!model) throw new ServingError('NOT_READY', host.notReadyReason, { retryAfterS: 5 });
  if (model.scheduler.liveSlots === 0) {
    throw new ServingError('NOT_READY', 'no inference worker is alive; the supernet is being reloaded', {
      retryAfterS: 5,
    });
  }
  if (name !== model.name) {
    throw new ServingError(
      'UNKNOWN_MODEL',
      `no model '${name.slice(0, 128)}'; this server serves '${model.name}'`,
    );
  }
  return model;
}

// Sets the answer's Subnet-Id, Budget-Met and Server-Timing headers and records the request's budget and timings.
export function recordPrediction(
  reply: FastifyReply,
  prediction: Prediction,
  metrics: ServingMetrics,
  route: string,
): void {
  const subnet = prediction.point.id;
  reply.header('subnet-id', subnet);
  reply.header('budget-met', String(prediction.budget.met));
  reply.header(
    'server-timing',
    `queue;dur=${prediction.queueMs.toFixed(3)}, inference;dur=${prediction.inferenceMs.toFixed(3)}, total;dur=${prediction.totalMs.toFixed(3)}`,
  );
  metrics.queueSeconds.observe({ subnet }, prediction.queueMs / 1000);
  metrics.inferenceSeconds.observe({ subnet }, prediction.inferenceMs / 1000);
  metrics.requestSeconds.observe({ route, subnet }, prediction.totalMs / 1000);
  metrics.budgets.inc({ outcome: prediction.budget.met ? 'met' : 'missed', mode: prediction.budget.mode });
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
