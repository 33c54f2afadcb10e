import { z } from 'zod';
import { BudgetParametersSchema } from './budget.ts';
import { TextPairInputSchema } from './schemas.ts';

const HF_INPUTS =
  'inputs must be a text, a list of texts, or {"text": ..., "text_pair": ...} (or a list of them)';

// POST /models/{model}: Hugging Face's text-classification request, with the budgets among its parameters.
export const HfClassifyRequestSchema = z
  .object({
    inputs: z
      .union([z.string(), TextPairInputSchema, z.array(z.union([z.string(), TextPairInputSchema])).min(1)], {
        error: HF_INPUTS,
      })
      .describe(
        'A text, a list of texts, or for a pair model {"text", "text_pair"} or a list of them (at most ' +
          'MAX_TEXTS, each at most MAX_CHARS_PER_TEXT characters)',
      ),
    parameters: BudgetParametersSchema.extend({
      top_k: z
        .number()
        .int()
        .min(1)
        .nullable()
        .optional()
        .describe('The most labels per input, highest score first (null or absent: every label)'),
      function_to_apply: z
        .enum(['softmax', 'sigmoid', 'none'])
        .optional()
        .describe('softmax (the default for two or more labels), sigmoid, or none (the raw logits)'),
      truncation: z
        .boolean()
        .optional()
        .describe(
          'true: read a long text to the chosen point (head and tail, as the model was trained); false: a text ' +
            'over the model limit is a 413 (absent: TOKEN_LIMIT)',
        ),
    })
      .strict()
      .optional()
      .describe('Scoring (top_k, function_to_apply, truncation) and budgets (also possible as headers)'),
    options: z
      .looseObject({})
      .optional()
      .describe("Hugging Face's request options (wait_for_model, use_cache): accepted and not needed here"),
  })
  .strict();
export type HfClassifyRequest = z.output<typeof HfClassifyRequestSchema>;

// One label and its score.
export const LabelScoreSchema = z.object({ label: z.string(), score: z.number() });

// The answer of POST /models/{model}: per input, its labels by score, highest first.
export const HfClassifyResponseSchema = z
  .array(z.array(LabelScoreSchema))
  .describe('One list per input (a single text too): its labels and scores, highest first');

const TEI_PAIR = z.array(z.string()).min(2).max(2);
const TEI_INPUTS =
  'inputs must be a text, a pair ["text", "text_pair"], or a batch [["text"], ["text", "text_pair"], ...]';

// POST /predict: text-embeddings-inference's PredictRequest (a list of two strings is one pair, as in TEI).
export const TeiPredictRequestSchema = z
  .object({
    inputs: z
      .union([z.string(), TEI_PAIR, z.array(z.array(z.string()).min(1).max(2)).min(1)], { error: TEI_INPUTS })
      .describe(
        'A text, a pair of texts, or a batch of [text] and [text, text_pair] lists (a pair for a pair model only)',
      ),
    raw_scores: z.boolean().optional().describe('true: the raw logits instead of probabilities'),
    truncate: z
      .boolean()
      .nullable()
      .optional()
      .describe(
        'true: read a long text to the chosen point; false: a text over the limit is a 413 (absent: TOKEN_LIMIT)',
      ),
    truncation_direction: z
      .enum(['left', 'right'])
      .optional()
      .describe(
        'right (the only one served): the model keeps the head of a text (and its tail, if trained so)',
      ),
  })
  .strict();
export type TeiPredictRequest = z.output<typeof TeiPredictRequestSchema>;

// The answer of POST /predict: a list of label scores for one input, a list of them for a batch.
export const TeiPredictResponseSchema = z.union([
  z.array(LabelScoreSchema),
  z.array(z.array(LabelScoreSchema)),
]);

// GET /info: text-embeddings-inference's Info for the default model (a classifier).
export const TeiInfoSchema = z.object({
  model_id: z.string(),
  model_sha: z.string().nullable().describe('The served version'),
  model_dtype: z.string(),
  model_type: z.object({
    classifier: z.object({
      id2label: z.record(z.string(), z.string()),
      label2id: z.record(z.string(), z.number()),
    }),
  }),
  max_concurrent_requests: z.number(),
  max_input_length: z.number(),
  max_batch_tokens: z.number(),
  max_batch_requests: z.number().nullable(),
  max_client_batch_size: z.number(),
  auto_truncate: z.boolean(),
  tokenization_workers: z.number(),
  version: z.string(),
  sha: z.string().nullable(),
  docker_label: z.string().nullable(),
});
