import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ModelInput } from '../src/model/task.ts';
import { BudgetHeadersSchema, mergeBudget } from './budget.ts';
import { type HfClassifyRequest, HfClassifyRequestSchema, HfClassifyResponseSchema } from './hf-schemas.ts';
import { defaultScoreFunction, rankLabels } from './label-scores.ts';
import { predict } from './predict.ts';
import {
  modelFor,
  type RouteContext,
  receivedAt,
  recordPrediction,
  withTruncation,
} from './route-context.ts';
import { INFERENCE_PROBLEMS, ModelParamsSchema, toModelInput } from './schemas.ts';

// Hugging Face's text-classification API (the Inference API's path, Inference Endpoints' body): what
// `@huggingface/inference`'s textClassification and transformers-style clients send, with budgets.
export function hfRoutes(context: RouteContext): FastifyPluginAsyncZod {
  const { config, models, metrics } = context;
  return async (app) => {
    app.post(
      '/models/:model',
      {
        schema: {
          summary: "Classify texts in Hugging Face's text-classification shape",
          description:
            'The body of a Hugging Face Inference Endpoint: `inputs` a text, a list of texts, or (for a pair ' +
            'model) {"text", "text_pair"} or a list of them; `parameters.top_k` and ' +
            '`parameters.function_to_apply` as in transformers. The answer is a list per input (a single ' +
            'text too) of {label, score}, highest first. Budgets come in `parameters` (latency_budget_ms, ' +
            'memory_budget_mb, min_accuracy, budget_mode, subnet_id) or the budget headers; the answer ' +
            'names the operating point in Subnet-Id, the timings in Server-Timing, and whether the budget ' +
            'was met in Budget-Met. Errors are problem+json, with `error` (the detail) as Hugging Face ' +
            'clients read it.',
          tags: ['hugging-face'],
          params: ModelParamsSchema,
          headers: BudgetHeadersSchema,
          body: HfClassifyRequestSchema,
          response: {
            200: HfClassifyResponseSchema,
            ...INFERENCE_PROBLEMS,
          },
        },
      },
      async (request, reply) => {
        const { inputs, parameters } = request.body;
        const { top_k, function_to_apply, truncation, ...budgetParameters } = parameters ?? {};
        const budget = mergeBudget(request.headers, budgetParameters);
        const model = modelFor(models, request.params.model);
        const modelInputs = hfInputs(inputs);
        const prediction = await predict(
          model,
          modelInputs,
          budget,
          receivedAt(reply),
          withTruncation(config, truncation),
        );
        recordPrediction(reply, prediction, metrics, 'hf-classify', model.name);
        const fn = function_to_apply ?? defaultScoreFunction(model.labels.length);
        return modelInputs.map((_, row) =>
          rankLabels(prediction.logits, row, model.labels, fn, top_k ?? undefined),
        );
      },
    );
  };
}

// The inputs of a Hugging Face request as a list (a single text or pair is a list of one).
function hfInputs(inputs: HfClassifyRequest['inputs']): ModelInput[] {
  return (Array.isArray(inputs) ? inputs : [inputs]).map(toModelInput);
}
