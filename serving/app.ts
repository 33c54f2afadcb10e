import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { type Logger, pino } from 'pino';
import type { ServingConfig } from './config.ts';
import { installErrorHandler, sendProblem, toProblem } from './error-handler.ts';
import { hfRoutes } from './hf-routes.ts';
import type { ModelHostOptions } from './model-host.ts';
import { ModelRepository } from './model-repository.ts';
import { oipRoutes } from './oip-routes.ts';
import { pageRoutes } from './page/page-routes.ts';
import { RequestSummary } from './request-summary.ts';
import { serializerCompiler, validatorCompiler } from './schema-compilers.ts';
import { SERVER_VERSION } from './schemas.ts';
import { ServingError } from './serving-error.ts';
import { ServingMetrics, type ServingSnapshot } from './serving-metrics.ts';
import { teiRoutes } from './tei-routes.ts';
import { v1Routes } from './v1-routes.ts';

// Routes that must answer even under pressure and while shutting down (probes and scrapes).
const ALWAYS_ANSWERED = new Set(['/v2/health/live', '/metrics']);

// What the app is built from; everything but the config has a default.
export interface AppDeps {
  config: ServingConfig;
  logger?: Logger;
  // Wraps each model's engine pool (tests hold calls in flight with it).
  wrapPool?: ModelHostOptions['wrapPool'];
  // Start loading the models when the app is ready (default true); the repository is reachable as app.models.
  autoStart?: boolean;
  // How often the info-level summary of the requests answered is logged (default a minute; also at close).
  summaryIntervalMs?: number;
}

// The app, with its models and metrics.
export type ServingApp = FastifyInstance & {
  readonly models: ModelRepository;
  readonly metrics: ServingMetrics;
};

// Builds the HTTP API (not listening): routes, validation, errors, metrics, OpenAPI, load shedding, and the
// model repository that loads, calibrates, hot-reloads and drains every model.
export async function buildApp(deps: AppDeps): Promise<ServingApp> {
  const { config } = deps;
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'serving' } });
  const base = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.maxBodyBytes,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    return503OnClosing: false,
    // Router errors (a malformed URL, a path parameter over maxParamLength) get problem+json like the rest.
    frameworkErrors: (error, request, reply) => sendProblem(reply, toProblem(error, request)),
  });
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const metrics = new ServingMetrics();
  const models = new ModelRepository({
    config,
    log: logger,
    metrics,
    ...(deps.wrapPool ? { wrapPool: deps.wrapPool } : {}),
  });
  metrics.watch(() => repositorySnapshot(models));
  app.decorate('models', models);
  app.decorate('metrics', metrics);

  let closing = false;
  // Requests are logged at debug; at info, what was answered every summaryIntervalMs and at close.
  const summary = new RequestSummary();
  const logSummary = () => {
    const answered = summary.take();
    if (answered) logger.info(answered, 'requests answered');
  };
  const summaryTimer = setInterval(logSummary, deps.summaryIntervalMs ?? 60_000);
  summaryTimer.unref();
  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', request.id);
    if (closing && !ALWAYS_ANSWERED.has(request.url)) {
      reply.header('connection', 'close');
      throw new ServingError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterS: 1 });
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const subnet = reply.getHeader('subnet-id');
    metrics.requests.inc({
      model: modelLabel(models, request.params),
      route,
      status: String(reply.statusCode),
      subnet: typeof subnet === 'string' ? subnet : 'none',
    });
    if (route !== '/metrics' && !route.startsWith('/v2/health')) {
      summary.record(reply.statusCode, reply.elapsedTime);
      request.log.debug(
        {
          method: request.method,
          url: request.url.slice(0, 256),
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 1000) / 1000,
          model: modelLabel(models, request.params),
          subnet,
        },
        'request completed',
      );
    }
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    clearInterval(summaryTimer);
    await models.close();
    logSummary();
  });
  if (deps.autoStart ?? true) {
    app.addHook('onReady', async () => {
      void models.start();
    });
  }

  installErrorHandler(base, (answer, request) => {
    if (answer.body.code === 'OVERLOADED') {
      metrics.shed.inc({ model: modelLabel(models, request.params), reason: 'queue' });
    }
  });

  if (config.inferenceWorkers > 0) await shedUnderPressure(base, config, metrics, models);

  await app.register(fastifySwagger, OPEN_API);

  const context = { config, models, metrics };
  await app.register(v1Routes(context));
  await app.register(oipRoutes(context));
  if (config.page) await app.register(pageRoutes());
  await app.register(hfRoutes(context));
  await app.register(teiRoutes(context));

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    reply.serializer((payload: string) => payload);
    return metrics.registry.metrics();
  });
  const openApi = async () => app.swagger();
  app.get('/docs', { schema: { hide: true } }, openApi);
  app.get('/docs/json', { schema: { hide: true } }, openApi);

  return app as unknown as ServingApp;
}

// What the metrics read of the models at scrape time: each one's queue and loaded version, and the engines.
function repositorySnapshot(models: ModelRepository): ServingSnapshot {
  return {
    utilization: models.slots.utilization(),
    engineStats: () => models.engines.stats(),
    models: models.all.flatMap((host) => {
      const model = host.model;
      const name = host.name;
      if (name === undefined) return [];
      return [
        {
          model: name,
          version: model?.version,
          queueLength: model?.scheduler.queueLength ?? 0,
          runningCalls: model?.scheduler.runningCalls ?? 0,
          ready: host.isServing && !models.isClosed,
          corrections: model
            ? model.points.map((p) => ({ subnet: p.id, factor: model.latency.correction(p.index) }))
            : [],
          budgetMarginMs: model?.latency.marginMs ?? 0,
        },
      ];
    }),
  };
}

// The model a request named (its :model path parameter), for metrics and logs: "none" when it named no model
// served (so that clients cannot add label values at will).
function modelLabel(models: ModelRepository, params: unknown): string {
  const model = (params as { model?: unknown } | undefined)?.model;
  return typeof model === 'string' && models.host(model) !== undefined ? model : 'none';
}

// With the engine on worker threads the event loop only does HTTP, so its delay and utilization say when it
// drowns. With the engine on the main thread (INFERENCE_WORKERS=0, Lambda) a busy engine is a busy loop by
// design: the scheduler's queue bound and MAX_QUEUE_WAIT_MS shed instead (so this is registered only with workers).
async function shedUnderPressure(
  app: FastifyInstance,
  config: ServingConfig,
  metrics: ServingMetrics,
  models: ModelRepository,
): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxEventLoopUtilization: config.maxEventLoopUtilization,
    pressureHandler: (request, reply, type, value) => {
      if (ALWAYS_ANSWERED.has(request.url) || request.url.startsWith('/v2/health')) return;
      metrics.shed.inc({ model: modelLabel(models, request.params), reason: 'event-loop' });
      sendProblem(
        reply,
        toProblem(
          new ServingError(
            'OVERLOADED',
            `the server is under pressure (${type}: ${Number(value).toFixed(2)})`,
            { retryAfterS: 1 },
          ),
          request,
        ),
      );
    },
  });
}

// The OpenAPI document's settings: generated from the routes' zod schemas.
const OPEN_API = {
  openapi: {
    info: {
      title: 'Elastic supernet serving',
      description:
        'Per-request subnet selection from a once-for-all supernet: budgets in headers ' +
        '(Latency-Budget-Ms, Memory-Budget-Mb, Min-Accuracy, Budget-Mode, Subnet-Id) or parameters. ' +
        'Errors are RFC 9457 problem+json with a stable code.',
      version: SERVER_VERSION,
    },
  },
  transform: jsonSchemaTransform,
};
