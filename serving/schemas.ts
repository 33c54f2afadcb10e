import { z } from 'zod';
import type { ModelInput } from '../src/model/task.ts';
import { BudgetParametersSchema } from './budget.ts';

// A model name in a path: what the manifest's model names look like (anything else cannot exist: 404).
export const ModelParamsSchema = z.object({
  model: z.string().min(1).max(128).describe('The model name (GET /v1/models lists it)'),
});

// RFC 9457 problem details, with the stable `code` of the error (and `error`, its detail, on the /v2, Hugging
// Face and text-embeddings-inference routes; `error_type` on the latter).
export const ProblemSchema = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  code: z.string(),
  requestId: z.string().optional(),
  error: z.string().optional(),
  error_type: z.string().optional(),
});
export type Problem = z.infer<typeof ProblemSchema>;

// One input of a pair model: two texts read together, `[CLS] text [SEP] text_pair [SEP]`.
export const TextPairInputSchema = z
  .object({
    text: z.string().describe('The first text (a question, a premise)'),
    text_pair: z.string().describe('The second text (an answer, a hypothesis)'),
  })
  .strict();

// An input as the API takes it: a string for a single-text model, a text pair for a pair model.
export const ApiInputSchema = z.union([z.string(), TextPairInputSchema]);
export type ApiInput = z.infer<typeof ApiInputSchema>;

// The model's form of an API input.
export function toModelInput(input: ApiInput): ModelInput {
  return typeof input === 'string' ? input : { text: input.text, textPair: input.text_pair };
}

// POST /v1/models/{model}/predict
export const PredictRequestSchema = z
  .object({
    inputs: z
      .array(ApiInputSchema)
      .min(1)
      .describe(
        'What to classify: strings for a single-text model, {"text", "text_pair"} objects for a pair model ' +
          '(GET /v1/models/{model} says which: task.input); the other kind is refused (400 WRONG_INPUT_KIND). ' +
          'At most MAX_TEXTS inputs, each text at most MAX_CHARS_PER_TEXT characters.',
      ),
    parameters: BudgetParametersSchema.optional().describe(
      'Budgets, as an alternative to the budget headers (a budget given both ways must agree)',
    ),
  })
  .strict();

const SubnetLayerOutSchema = z.object({ layer: z.number(), heads: z.number(), ffn: z.number() });

// An operating point: the layers that run, the tokens read, and the precision its matmul weights run in.
const PointConfigOutSchema = z.object({
  layers: z.array(SubnetLayerOutSchema),
  tokens: z.number(),
  precision: z.enum(['fp32', 'int8']).describe('int8: int8 matmul weights, activations quantized per call'),
});

// The operating point chosen for a request; flops and memoryBytes are for this request's batch and tokens.
export const ChosenSubnetSchema = z.object({
  id: z
    .string()
    .describe(
      'Operating point id: {layer}h{heads}f{ffn} per layer, joined by ".", then -t{tokens}, then -int8 for an int8 point',
    ),
  config: PointConfigOutSchema,
  params: z.number(),
  flops: z.number(),
  memoryBytes: z.number(),
  expectedLatencyMs: z
    .number()
    .describe('Predicted server time (queueing + inference + overhead) at selection'),
  accuracy: z.number().nullable().describe('Dev accuracy from the catalog (null: not measured)'),
});

// The budget as applied to a request (defaults filled in) and whether it was met.
export const AppliedBudgetSchema = z.object({
  latencyMs: z.number().nullable(),
  memoryMb: z.number().nullable(),
  minAccuracy: z.number().nullable(),
  mode: z.enum(['best-effort', 'strict']),
  met: z.boolean().describe('Whether every budget was met (latency as measured when answering)'),
});

// One text's answer: the top label, its probability, every label's.
export const TextOutputSchema = z.object({
  label: z.string(),
  score: z.number(),
  scores: z.record(z.string(), z.number()),
});

// The answer of POST /v1/models/{model}/predict (DESIGN.md, The HTTP contract).
export const PredictResponseSchema = z.object({
  model: z.string(),
  version: z.string(),
  subnet: ChosenSubnetSchema,
  budget: AppliedBudgetSchema,
  outputs: z.array(TextOutputSchema),
});

// GET /v1/models
export const ModelListSchema = z.object({
  models: z.array(
    z.object({
      name: z.string(),
      ready: z.boolean(),
      reason: z.string().optional().describe('Why the model is not ready'),
      version: z.string().nullable().describe('The version served; null while none is loaded'),
      task: z
        .object({ input: z.enum(['single', 'pair']), labels: z.number() })
        .nullable()
        .describe('What the model reads (one text or a text pair) and how many labels it answers'),
      operatingPoints: z.number().nullable().describe('Catalog size'),
      loadedAt: z.string().nullable(),
    }),
  ),
});

// One catalog entry with what this host measured.
export const CatalogPointSchema = z.object({
  id: z.string(),
  config: PointConfigOutSchema,
  params: z.number(),
  flops: z.number().describe('FLOPs of one text at the point token length'),
  memoryBytes: z.number().describe('Memory of one text at the point token length'),
  devAccuracy: z.number().nullable(),
  testAccuracy: z.number().nullable(),
  devMacroF1: z.number().nullable().describe('Mean over labels of each label F1 on dev (null: not recorded)'),
  testMacroF1: z
    .number()
    .nullable()
    .describe('Mean over labels of each label F1 on test (null: not recorded)'),
  latencyMs: z.number().describe('Predicted on this host now: one text at the point token length'),
  calibratedLatencyMs: z.number().describe('As calibrated at start-up on this host'),
  latencyCorrection: z.number().describe('Online correction factor (observed / calibrated, EWMA)'),
  trainingLatencyMs: z.number().nullable(),
  trainingLatencyHost: z.string().nullable(),
});

// GET /v1/models/{model}
export const ModelCatalogSchema = z.object({
  name: z.string(),
  version: z.string(),
  createdAt: z.string(),
  loadedAt: z.string(),
  labels: z.array(z.string()),
  task: z
    .object({
      input: z
        .enum(['single', 'pair'])
        .describe('single: each input is a string; pair: each input is {"text", "text_pair"}'),
      labels: z.array(z.string()),
      fields: z
        .object({ text: z.string(), textPair: z.string().optional(), label: z.string() })
        .optional()
        .describe('The columns of the training data the inputs and labels were read from'),
    })
    .describe('What the model classifies'),
  tokenizer: z.object({ maxTokens: z.number(), truncation: z.enum(['head', 'head-tail']) }),
  host: z.object({
    name: z.string(),
    engine: z.string(),
    workers: z.number(),
    calibrationMs: z.number(),
    calibrationSamples: z.number(),
    overheadMs: z.number().describe('Server time outside queue and engine per request (EWMA)'),
    budgetMarginMs: z
      .number()
      .describe('Margin budget checks add to predictions: LATENCY_TARGET_QUANTILE of recent lateness'),
  }),
  catalog: z.array(CatalogPointSchema),
});

// Open Inference Protocol (KServe v2): one tensor of a request.
export const OipInputSchema = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().nonnegative()).min(1).max(2),
  datatype: z.string().min(1).max(16),
  parameters: z.record(z.string(), z.unknown()).optional(),
  data: z.array(z.unknown()),
});

// POST /v2/models/{model}/infer: one BYTES input of texts; budgets in `parameters` (other parameters ignored).
export const OipInferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: BudgetParametersSchema.loose().optional(),
  inputs: z.array(OipInputSchema).min(1),
  outputs: z.array(z.looseObject({ name: z.string() })).optional(),
});

// One output tensor of an OIP answer.
export const OipOutputSchema = z.object({
  name: z.string(),
  shape: z.array(z.number()),
  datatype: z.string(),
  data: z.array(z.union([z.string(), z.number()])),
});

// The answer of POST /v2/models/{model}/infer, with the operating point chosen in `parameters`.
export const OipInferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string(),
  id: z.string().optional(),
  parameters: z.object({
    subnet_id: z.string(),
    subnet_accuracy: z.number().nullable(),
    expected_latency_ms: z.number(),
    flops: z.number(),
    memory_bytes: z.number(),
    budget_mode: z.string(),
    budget_met: z.boolean(),
  }),
  outputs: z.array(OipOutputSchema),
});

const OipTensorMetadataSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number()),
});

// GET /v2/models/{model}
export const OipModelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(OipTensorMetadataSchema),
  outputs: z.array(OipTensorMetadataSchema),
});

// GET /v2
export const OipServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});

// Health answers.
export const LiveSchema = z.object({ live: z.boolean() });
// GET /v2/health/ready when ready.
export const ReadySchema = z.object({
  ready: z.boolean(),
  refused: z
    .array(z.object({ model: z.string(), reason: z.string() }))
    .optional()
    .describe(
      'Models not served because their version was refused (malformed or corrupt) until its files change',
    ),
});
// GET /v2/models/{model}/ready when ready.
export const ModelReadySchema = z.object({ name: z.string(), ready: z.boolean() });

// The server's version, as the OIP and TEI metadata routes and the OpenAPI document report it.
export const SERVER_VERSION = '0.1.0';

// What an inference route may answer besides 200: problem+json for bad input, an unknown model, too large a
// request, a strict budget no point meets, and not ready or shedding.
export const INFERENCE_PROBLEMS = {
  400: ProblemSchema,
  404: ProblemSchema,
  413: ProblemSchema,
  422: ProblemSchema,
  503: ProblemSchema,
};
