import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { BudgetHeadersSchema, mergeBudget } from './budget.ts';
import { predict } from './predict.ts';
import { modelFor, type RouteContext, receivedAt, recordPrediction } from './route-context.ts';
import {
  INFERENCE_PROBLEMS,
  ModelCatalogSchema,
  ModelListSchema,
  ModelParamsSchema,
  PredictRequestSchema,
  PredictResponseSchema,
  ProblemSchema,
  toModelInput,
} from './schemas.ts';
import type { ServingModel } from './serving-model.ts';

// The v1 API: the models served, a model's catalog as calibrated on this host, and predict with budgets.
export function v1Routes(context: RouteContext): FastifyPluginAsyncZod {
  const { config, models, metrics } = context;
  return async (app) => {
    app.get(
      '/v1/models',
      {
        schema: {
          summary: 'The models served',
          tags: ['v1'],
          response: { 200: ModelListSchema },
        },
      },
      async () => ({
        models: models.all.flatMap((host) => {
          const model = host.model;
          const name = host.name;
          if (name === undefined) return [];
          const ready = host.isServing && !models.isClosed;
          return [
            {
              name,
              ready,
              ...(ready ? {} : { reason: host.notReadyReason }),
              version: model?.version ?? null,
              task: model ? { input: model.manifest.task.input, labels: model.labels.length } : null,
              operatingPoints: model?.points.length ?? null,
              loadedAt: model?.loadedAt.toISOString() ?? null,
            },
          ];
        }),
      }),
    );

    app.get(
      '/v1/models/:model',
      {
        schema: {
          summary: 'A model and its catalog of operating points, with latencies calibrated on this host',
          tags: ['v1'],
          params: ModelParamsSchema,
          response: { 200: ModelCatalogSchema, 404: ProblemSchema, 503: ProblemSchema },
        },
      },
      async (request) => describeModel(modelFor(models, request.params.model)),
    );

    app.post(
      '/v1/models/:model/predict',
      {
        schema: {
          summary: 'Classify texts (or text pairs) with the most accurate subnet that fits the budget',
          description:
            'Budgets come in headers or in `parameters`. The answer names the operating point chosen ' +
            '(headers Subnet-Id and Server-Timing too) and whether the budget was met.',
          tags: ['v1'],
          params: ModelParamsSchema,
          headers: BudgetHeadersSchema,
          body: PredictRequestSchema,
          response: { 200: PredictResponseSchema, ...INFERENCE_PROBLEMS },
        },
      },
      async (request, reply) => {
        const budget = mergeBudget(request.headers, request.body.parameters);
        const model = modelFor(models, request.params.model);
        const inputs = request.body.inputs.map(toModelInput);
        const prediction = await predict(model, inputs, budget, receivedAt(reply), config);
        recordPrediction(reply, prediction, metrics, 'predict', model.name);
        const { point } = prediction;
        return {
          model: model.name,
          version: model.version,
          subnet: {
            id: point.id,
            config: {
              layers: point.entry.subnet.layers,
              tokens: point.entry.tokens,
              precision: point.precision,
            },
            params: point.cost.params,
            flops: prediction.flops,
            memoryBytes: prediction.memoryBytes,
            expectedLatencyMs: round(prediction.expectedLatencyMs),
            accuracy: point.entry.devAccuracy,
          },
          budget: prediction.budget,
          outputs: prediction.outputs,
        };
      },
    );
  };
}

// GET /v1/models/{model}: the catalog, most accurate first, with this host's latencies.
export function describeModel(model: ServingModel) {
  const catalog = model.table.order.map((index) => {
    const point = model.points[index]!;
    const { entry, cost } = point;
    return {
      id: point.id,
      config: { layers: entry.subnet.layers, tokens: entry.tokens, precision: point.precision },
      params: cost.params,
      flops: cost.flops(1, entry.tokens),
      memoryBytes: cost.memoryBytes(1, entry.tokens),
      devAccuracy: entry.devAccuracy,
      testAccuracy: entry.testAccuracy ?? null,
      devMacroF1: entry.devMacroF1 ?? null,
      testMacroF1: entry.testMacroF1 ?? null,
      latencyMs: round(model.latency.predictMs(index, 1, entry.tokens)),
      calibratedLatencyMs: round(model.latency.calibratedMs(index, 1, entry.tokens)),
      latencyCorrection: round(model.latency.correction(index)),
      trainingLatencyMs: entry.latencyMs ?? null,
      trainingLatencyHost: entry.latencyHost ?? null,
    };
  });
  return {
    name: model.name,
    version: model.version,
    createdAt: model.manifest.createdAt,
    loadedAt: model.loadedAt.toISOString(),
    labels: [...model.labels],
    task: { ...model.manifest.task, labels: [...model.labels] },
    tokenizer: {
      maxTokens: model.manifest.tokenizer.maxTokens,
      truncation: model.manifest.tokenizer.truncation,
    },
    host: {
      name: model.calibration.host,
      engine: model.calibration.engine,
      workers: model.calibration.workers,
      calibrationMs: Math.round(model.calibration.elapsedMs),
      calibrationSamples: model.calibration.samples,
      overheadMs: round(model.latency.overheadMs),
      budgetMarginMs: round(model.latency.marginMs),
    },
    catalog,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
