import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { inputKindOf, type ModelInput } from '../src/model/task.ts';
import { BudgetHeadersSchema, mergeBudget } from './budget.ts';
import {
  TeiInfoSchema,
  type TeiPredictRequest,
  TeiPredictRequestSchema,
  TeiPredictResponseSchema,
} from './hf-schemas.ts';
import { defaultScoreFunction, rankLabels } from './label-scores.ts';
import type { ModelRepository } from './model-repository.ts';
import { predict } from './predict.ts';
import {
  describeNames,
  modelFor,
  type RouteContext,
  receivedAt,
  recordPrediction,
  withTruncation,
} from './route-context.ts';
import { INFERENCE_PROBLEMS, ProblemSchema, SERVER_VERSION } from './schemas.ts';
import { ServingError } from './serving-error.ts';
import type { ServingModel } from './serving-model.ts';

// The model TEI's routes serve: DEFAULT_MODEL, else the only model served; with several and no DEFAULT_MODEL, a
// 404 that says so.
function defaultModelName(models: ModelRepository, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const names = models.names();
  if (names.length <= 1) return names[0] ?? '';
  throw new ServingError(
    'UNKNOWN_MODEL',
    `POST /predict and GET /info serve DEFAULT_MODEL, which is not set, and ${describeNames(names)}: set DEFAULT_MODEL, or call /v1/models/{model}/predict`,
  );
}

// text-embeddings-inference's classifier routes for the default model (DEFAULT_MODEL, or the one served), so
// that a TEI client works unchanged: POST /predict and GET /info.
export function teiRoutes(context: RouteContext): FastifyPluginAsyncZod {
  const { config, models, metrics } = context;
  const defaultModel = (): ServingModel => modelFor(models, defaultModelName(models, config.defaultModel));
  return async (app) => {
    app.get(
      '/info',
      {
        schema: {
          summary: "The default model in text-embeddings-inference's Info shape",
          tags: ['text-embeddings-inference'],
          response: { 200: TeiInfoSchema, 404: ProblemSchema, 503: ProblemSchema },
        },
      },
      async () => {
        const model = defaultModel();
        const labels = model.labels;
        const maxInputLength = config.maxTokensPerText ?? model.manifest.tokenizer.maxTokens;
        return {
          model_id: model.name,
          model_sha: model.version,
          model_dtype: 'float32',
          model_type: {
            classifier: {
              id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
              label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
            },
          },
          max_concurrent_requests: config.maxQueue,
          max_input_length: maxInputLength,
          max_batch_tokens: config.maxBatch * model.manifest.tokenizer.maxTokens,
          max_batch_requests: config.maxBatch,
          max_client_batch_size: config.maxTexts,
          auto_truncate: config.tokenLimit === 'truncate',
          tokenization_workers: 1,
          version: SERVER_VERSION,
          sha: null,
          docker_label: null,
        };
      },
    );

    app.post(
      '/predict',
      {
        schema: {
          summary: "Classify texts with the default model in text-embeddings-inference's shape",
          description:
            'A text or a pair gets a list of {label, score}, a batch a list of them, highest score first. ' +
            '`raw_scores` answers the logits; `truncate` false refuses a text over the limit (413). Budgets ' +
            'come in the budget headers; the answer carries Subnet-Id, Server-Timing and Budget-Met. Errors ' +
            'are problem+json with `error` and `error_type`, as TEI clients read them.',
          tags: ['text-embeddings-inference'],
          headers: BudgetHeadersSchema,
          body: TeiPredictRequestSchema,
          response: {
            200: TeiPredictResponseSchema,
            ...INFERENCE_PROBLEMS,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        if (body.truncation_direction === 'left') {
          throw new ServingError(
            'INVALID_REQUEST',
            'truncation_direction "left" is not served: a long text is read from its head (and its tail, if the model was trained so)',
          );
        }
        const budget = mergeBudget(request.headers, undefined);
        const model = defaultModel();
        const { inputs, batch } = teiInputs(body.inputs);
        checkTeiInputKind(model, inputs);
        const prediction = await predict(
          model,
          inputs,
          budget,
          receivedAt(reply),
          withTruncation(config, body.truncate),
        );
        recordPrediction(reply, prediction, metrics, 'tei-predict', model.name);
        const fn = body.raw_scores ? 'none' : defaultScoreFunction(model.labels.length);
        const ranked = inputs.map((_, row) => rankLabels(prediction.logits, row, model.labels, fn));
        return batch ? ranked : ranked[0]!;
      },
    );
  };
}

// The inputs of a TEI request, and whether it was a batch (answered with a list per input).
function teiInputs(inputs: TeiPredictRequest['inputs']): { inputs: ModelInput[]; batch: boolean } {
  if (typeof inputs === 'string') return { inputs: [inputs], batch: false };
  if (isPair(inputs)) return { inputs: [{ text: inputs[0]!, textPair: inputs[1]! }], batch: false };
  return {
    inputs: inputs.map((item) => (item.length === 1 ? item[0]! : { text: item[0]!, textPair: item[1]! })),
    batch: true,
  };
}

// Refuses inputs of the other kind than the model reads (WRONG_INPUT_KIND), in TEI's own shapes: there a list of
// two strings is one pair, not a batch of two texts.
function checkTeiInputKind(model: ServingModel, inputs: readonly ModelInput[]): void {
  const kind = model.manifest.task.input;
  const wrong = inputs.findIndex((input) => inputKindOf(input) !== kind);
  if (wrong === -1) return;
  throw new ServingError(
    'WRONG_INPUT_KIND',
    kind === 'pair'
      ? `model ${model.name} classifies text pairs: send a pair ["text", "text_pair"] or a batch of them [["a", "b"], ...]; input ${wrong} is a single text`
      : `model ${model.name} classifies single texts: send a text or a batch [["a"], ["b"]] (a list of two strings is one pair); input ${wrong} is a text pair`,
  );
}

function isPair(inputs: string[] | string[][]): inputs is string[] {
  return typeof inputs[0] === 'string';
}
