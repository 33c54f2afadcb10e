import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { InputKind, ModelInput } from '../src/model/task.ts';
import { BudgetHeadersSchema, type BudgetParametersSchema, mergeBudget } from './budget.ts';
import type { ServingConfig } from './config.ts';
import type { ModelRepository } from './model-repository.ts';
import { type Prediction, predict } from './predict.ts';
import { modelFor, type RouteContext, receivedAt, recordPrediction } from './route-context.ts';
import {
  INFERENCE_PROBLEMS,
  LiveSchema,
  ModelParamsSchema,
  ModelReadySchema,
  OipInferRequestSchema,
  OipInferResponseSchema,
  type OipInputSchema,
  OipModelMetadataSchema,
  OipServerMetadataSchema,
  ProblemSchema,
  ReadySchema,
  SERVER_VERSION,
} from './schemas.ts';
import { ServingError } from './serving-error.ts';
import type { ServingModel } from './serving-model.ts';

// The Open Inference Protocol (KServe v2): health, server and model metadata, and infer with one BYTES input of
// texts (two for a pair model: `text` and `text_pair`).
export function oipRoutes(context: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    addHealthRoutes(app, context.models);
    addMetadataRoutes(app, context);
    addInferRoute(app, context);
  };
}

type OipApp = Parameters<FastifyPluginAsyncZod>[0];

// GET /v2/health/live and /v2/health/ready.
function addHealthRoutes(app: OipApp, models: ModelRepository): void {
  app.get(
    '/v2/health/live',
    { schema: { summary: 'The process is up', tags: ['v2'], response: { 200: LiveSchema } } },
    async () => ({ live: true }),
  );

  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary:
          'Every model found at start is loaded, verified and calibrated (503 naming those that are not, and while shutting down)',
        tags: ['v2'],
        response: { 200: ReadySchema, 503: ProblemSchema },
      },
    },
    async () => {
      const waiting = models.notReady();
      if (waiting.length > 0) {
        throw new ServingError(
          models.isClosed ? 'SHUTTING_DOWN' : 'NOT_READY',
          waiting.map((w) => (w.model === '*' ? w.reason : `${w.model}: ${w.reason}`)).join('; '),
          { retryAfterS: models.isClosed ? 1 : 5 },
        );
      }
      const refused = models.refused();
      return refused.length > 0 ? { ready: true, refused } : { ready: true };
    },
  );
}

// GET /v2 (the server), /v2/models/{model} (its inputs and outputs) and /v2/models/{model}/ready.
function addMetadataRoutes(app: OipApp, { config, models }: RouteContext): void {
  app.get(
    '/v2',
    { schema: { summary: 'Server metadata', tags: ['v2'], response: { 200: OipServerMetadataSchema } } },
    async () => ({ name: 'elastic-supernet-serving', version: SERVER_VERSION, extensions: [] }),
  );

  app.get(
    '/v2/models/:model',
    {
      schema: {
        summary:
          'Model metadata: one BYTES input of texts (two, text and text_pair, for a pair model), labels and scores out',
        tags: ['v2'],
        params: ModelParamsSchema,
        response: { 200: OipModelMetadataSchema, 404: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request) => modelMetadata(modelFor(models, request.params.model), config.engine),
  );

  app.get(
    '/v2/models/:model/ready',
    {
      schema: {
        summary: 'The model is ready',
        tags: ['v2'],
        params: ModelParamsSchema,
        response: { 200: ModelReadySchema, 404: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request) => ({ name: modelFor(models, request.params.model).name, ready: true }),
  );
}

// POST /v2/models/{model}/infer.
function addInferRoute(app: OipApp, { config, models, metrics }: RouteContext): void {
  app.post(
    '/v2/models/:model/infer',
    {
      schema: {
        summary:
          'Classify texts (one BYTES input; a pair model takes two, text and text_pair); budgets in headers or parameters',
        tags: ['v2'],
        params: ModelParamsSchema,
        headers: BudgetHeadersSchema,
        body: OipInferRequestSchema,
        response: {
          200: OipInferResponseSchema,
          ...INFERENCE_PROBLEMS,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const budget = mergeBudget(request.headers, budgetParameters(body.parameters));
      const model = modelFor(models, request.params.model);
      const texts = inputsOf(body.inputs, model.name, model.manifest.task.input);
      const prediction = await predict(model, texts, budget, receivedAt(reply), config);
      recordPrediction(reply, prediction, metrics, 'infer', model.name);
      return inferAnswer(model, prediction, texts.length, body.id);
    },
  );
}

// A model's metadata: its input tensors (one of texts, or text and text_pair), and the label and scores out.
function modelMetadata(model: ServingModel, engine: ServingConfig['engine']) {
  return {
    name: model.name,
    versions: [model.version],
    platform: `elastic-supernet/${engine}`,
    inputs: (model.manifest.task.input === 'pair' ? PAIR_INPUTS : [TEXT_INPUT]).map((name) => ({
      name,
      datatype: 'BYTES',
      shape: [-1],
    })),
    outputs: [
      { name: 'label', datatype: 'BYTES', shape: [-1] },
      { name: 'scores', datatype: 'FP32', shape: [-1, model.labels.length] },
    ],
  };
}

// An infer answer: the operating point chosen in `parameters`, a label per text and the scores row by row.
function inferAnswer(model: ServingModel, prediction: Prediction, texts: number, id: string | undefined) {
  const labels = model.labels;
  const scores: number[] = [];
  for (const output of prediction.outputs) for (const label of labels) scores.push(output.scores[label]!);
  return {
    model_name: model.name,
    model_version: model.version,
    ...(id === undefined ? {} : { id }),
    parameters: {
      subnet_id: prediction.point.id,
      subnet_accuracy: prediction.point.entry.devAccuracy,
      expected_latency_ms: Math.round(prediction.expectedLatencyMs * 1000) / 1000,
      flops: prediction.flops,
      memory_bytes: prediction.memoryBytes,
      budget_mode: prediction.budget.mode,
      budget_met: prediction.budget.met,
    },
    outputs: [
      {
        name: 'label',
        shape: [texts],
        datatype: 'BYTES',
        data: prediction.outputs.map((o) => o.label),
      },
      { name: 'scores', shape: [texts, labels.length], datatype: 'FP32', data: scores },
    ],
  };
}

const TEXT_INPUT = 'text';
const PAIR_INPUTS = [TEXT_INPUT, 'text_pair'] as const;

// The model inputs of an infer request. A single-text model takes exactly one BYTES input (any name); a pair
// model two, named `text` and `text_pair`, of the same length. The wrong count is WRONG_INPUT_KIND.
function inputsOf(
  inputs: z.output<typeof OipInferRequestSchema>['inputs'],
  model: string,
  kind: InputKind,
): ModelInput[] {
  const isPair = inputs.length === 2 && PAIR_INPUTS.every((name) => inputs.some((i) => i.name === name));
  if (kind === 'single') {
    if (inputs.length !== 1) {
      throw new ServingError(
        isPair ? 'WRONG_INPUT_KIND' : 'INVALID_REQUEST',
        `model ${model} classifies single texts: expected one input (a BYTES tensor of texts), got ${inputs.length}`,
      );
    }
    return textsOf(inputs[0]!);
  }
  const byName = new Map(inputs.map((input) => [input.name, input]));
  if (!isPair) {
    throw new ServingError(
      'WRONG_INPUT_KIND',
      `model ${model} classifies text pairs: expected two BYTES inputs named text and text_pair, got ${inputs.length} (${inputs.map((i) => `'${i.name.slice(0, 40)}'`).join(', ')})`,
    );
  }
  const first = textsOf(byName.get('text')!);
  const second = textsOf(byName.get('text_pair')!);
  if (first.length !== second.length) {
    throw new ServingError(
      'INVALID_REQUEST',
      `inputs text and text_pair must hold as many texts: ${first.length} and ${second.length}`,
    );
  }
  return first.map((text, i) => ({ text, textPair: second[i]! }));
}

// The texts of one BYTES input whose shape ([n] or [n, 1]) matches its data.
function textsOf(input: z.output<typeof OipInputSchema>): string[] {
  if (input.datatype !== 'BYTES') {
    throw new ServingError(
      'INVALID_REQUEST',
      `input '${input.name}' must have datatype BYTES, not ${input.datatype}`,
    );
  }
  const [n, width = 1] = input.shape;
  const shape = `[${input.shape.join(', ')}]`;
  if (input.shape.length > 2 || width !== 1) {
    throw new ServingError(
      'INVALID_REQUEST',
      `input '${input.name}' has shape ${shape}; texts go in shape [n] or [n, 1], one text per row`,
    );
  }
  if (n !== input.data.length) {
    throw new ServingError(
      'INVALID_REQUEST',
      `input '${input.name}' has shape ${shape}, which holds ${n} texts, but its data holds ${input.data.length}`,
    );
  }
  const texts: string[] = [];
  for (const item of input.data) {
    if (typeof item !== 'string') {
      throw new ServingError('INVALID_REQUEST', `input '${input.name}' must hold strings (UTF-8 texts)`);
    }
    texts.push(item);
  }
  return texts;
}

// The budget parameters of an infer request (other parameters are the client's business and ignored).
function budgetParameters(
  parameters: z.output<typeof OipInferRequestSchema>['parameters'],
): z.output<typeof BudgetParametersSchema> | undefined {
  if (parameters === undefined) return undefined;
  const { latency_budget_ms, memory_budget_mb, min_accuracy, budget_mode, subnet_id } = parameters;
  return { latency_budget_ms, memory_budget_mb, min_accuracy, budget_mode, subnet_id };
}
