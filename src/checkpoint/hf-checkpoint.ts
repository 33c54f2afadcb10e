import { z } from 'zod';
import { CheckpointError } from '../errors.ts';
import type { WeightTensor } from '../model/weights.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { Vocabulary } from '../tokenizer/vocabulary.ts';
import { type DecodedTensor, readSafetensors } from './safetensors.ts';

// A Hugging Face BERT checkpoint folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json),
// read into the supernet's names and layout: Linear weights ([out, in]) transposed to kernels ([in, out]),
// the post-attention and output LayerNorms as each layer's attention and FFN norms.

// The subset of config.json a BERT sequence classifier (or bare encoder) is defined by.
export const BertConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  architectures: z.array(z.string()).optional(),
  vocab_size: z.number().int().min(5),
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  hidden_act: z.string().default('gelu'),
  max_position_embeddings: z.number().int().min(2),
  type_vocab_size: z.number().int().min(1).max(16).default(2),
  layer_norm_eps: z.number().positive().max(0.1).default(1e-12),
  position_embedding_type: z.string().default('absolute'),
  id2label: z.record(z.string(), z.string()).optional(),
  num_labels: z.number().int().min(1).optional(),
});
export type BertConfig = z.infer<typeof BertConfigSchema>;

// tokenizer_config.json: only what changes how text becomes ids.
const TokenizerConfigSchema = z.looseObject({
  do_lower_case: z.boolean().optional(),
  strip_accents: z.boolean().nullable().optional(),
  tokenize_chinese_chars: z.boolean().optional(),
});

// The architecture of the BERT form, as the manifest records it (the pieces the supernet config takes).
export interface BertArchitecture {
  vocabSize: number;
  hiddenSize: number;
  maxTokens: number;
  maxLayers: number;
  maxHeads: number;
  headSize: number;
  maxFfn: number;
  numLabels: number;
  typeVocabSize: number;
  layerNormEps: number;
}

// A checkpoint read and mapped: architecture, labels (when it has a classifier), tokenizer settings, vocabulary
// text and the weights under the supernet's names.
export interface HfCheckpoint {
  architecture: BertArchitecture;
  // From id2label in id order; undefined for a bare encoder (BertModel).
  labels: string[] | undefined;
  hasClassifier: boolean;
  lowercase: boolean;
  stripAccents: boolean;
  vocabText: string;
  weights: WeightTensor[];
  // Where it was read from, for provenance and messages.
  uri: string;
}

const LAYER_MAP: ReadonlyArray<readonly [string, string, boolean]> = [
  // [Hugging Face suffix under encoder.layer.{i}., our part under layers.{i}., transpose]
  ['attention.self.query.weight', 'attention.query.kernel', true],
  ['attention.self.query.bias', 'attention.query.bias', false],
  ['attention.self.key.weight', 'attention.key.kernel', true],
  ['attention.self.key.bias', 'attention.key.bias', false],
  ['attention.self.value.weight', 'attention.value.kernel', true],
  ['attention.self.value.bias', 'attention.value.bias', false],
  ['attention.output.dense.weight', 'attention.output.kernel', true],
  ['attention.output.dense.bias', 'attention.output.bias', false],
  ['attention.output.LayerNorm.weight', 'attention.norm.gamma', false],
  ['attention.output.LayerNorm.bias', 'attention.norm.beta', false],
  ['intermediate.dense.weight', 'ffn.input.kernel', true],
  ['intermediate.dense.bias', 'ffn.input.bias', false],
  ['output.dense.weight', 'ffn.output.kernel', true],
  ['output.dense.bias', 'ffn.output.bias', false],
  ['output.LayerNorm.weight', 'ffn.norm.gamma', false],
  ['output.LayerNorm.bias', 'ffn.norm.beta', false],
];

const TOP_MAP: ReadonlyArray<readonly [string, string, boolean]> = [
  ['embeddings.word_embeddings.weight', 'embeddings.token', false],
  ['embeddings.position_embeddings.weight', 'embeddings.position', false],
  ['embeddings.token_type_embeddings.weight', 'embeddings.type', false],
  ['embeddings.LayerNorm.weight', 'embeddings.norm.gamma', false],
  ['embeddings.LayerNorm.bias', 'embeddings.norm.beta', false],
  ['pooler.dense.weight', 'pooler.kernel', true],
  ['pooler.dense.bias', 'pooler.bias', false],
];

const CLASSIFIER_MAP: ReadonlyArray<readonly [string, string, boolean]> = [
  ['classifier.weight', 'classifier.kernel', true],
  ['classifier.bias', 'classifier.bias', false],
];

// The Hugging Face names a tensor may be stored under: with or without the `bert.` prefix, and the older
// `LayerNorm.gamma` / `LayerNorm.beta` for `.weight` / `.bias`.
function storedNames(name: string): string[] {
  const older = name
    .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
    .replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
  const forms = older === name ? [name] : [name, older];
  return name.startsWith('classifier.') ? forms : forms.flatMap((n) => [`bert.${n}`, n]);
}

async function readJson(store: ObjectStore, key: string, where: string): Promise<unknown> {
  const bytes = await store.read(key);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${where}: not JSON (${(error as Error).message})`);
  }
}

// Validates config.json as a BERT encoder the BERT form can run; one line naming the file and the field.
export function parseBertConfig(json: unknown, where: string): BertConfig {
  const parsed = BertConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
  }
  const c = parsed.data;
  const unsupported = (what: string) => {
    throw new CheckpointError('UNSUPPORTED_CHECKPOINT', `${where}: ${what}`);
  };
  if (c.model_type !== undefined && c.model_type !== 'bert') {
    unsupported(`model_type ${JSON.stringify(c.model_type)} is not supported (bert is)`);
  }
  const known = ['BertForSequenceClassification', 'BertModel', 'BertForPreTraining', 'BertForMaskedLM'];
  const unknownArch = c.architectures?.find((a) => !known.includes(a));
  if (unknownArch) unsupported(`architecture ${unknownArch} is not supported (${known.join(', ')} are)`);
  if (c.hidden_act !== 'gelu')
    unsupported(`hidden_act ${JSON.stringify(c.hidden_act)} is not supported (gelu is)`);
  if (c.position_embedding_type !== 'absolute') {
    unsupported(
      `position_embedding_type ${JSON.stringify(c.position_embedding_type)} is not supported (absolute is)`,
    );
  }
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${where}: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`,
    );
  }
  return c;
}

// Labels in id order from id2label (ids 0..n-1, each once), or undefined when the config names none.
function labelsOf(c: BertConfig, where: string): string[] | undefined {
  if (!c.id2label) return undefined;
  const entries = Object.entries(c.id2label);
  const labels: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const label = c.id2label[String(i)];
    if (label === undefined) {
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${where}: id2label has no id ${i} (ids must be 0..${entries.length - 1})`,
      );
    }
    labels.push(label);
  }
  if (new Set(labels).size !== labels.length) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${where}: id2label names a label twice`);
  }
  return labels;
}

function transpose(t: DecodedTensor): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  }
  return out;
}

// Reads a checkpoint folder from a store (a folder or an s3:// prefix) and maps it to the supernet's names.
export async function readHfCheckpoint(store: ObjectStore): Promise<HfCheckpoint> {
  const at = (key: string) => `${store.uri.replace(/\/$/, '')}/${key}`;
  for (const key of ['config.json', 'model.safetensors', 'vocab.txt']) {
    if ((await store.stat(key)) === undefined) {
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${at(key)}: not found (a checkpoint folder holds config.json, model.safetensors, vocab.txt)`,
      );
    }
  }
  const config = parseBertConfig(await readJson(store, 'config.json', at('config.json')), at('config.json'));
  const { tokenizerConfig, vocabText } = await readTokenizerFiles(store, config, at);

  const weightsFile = at('model.safetensors');
  const info = (await store.stat('model.safetensors'))!;
  const { tensors } = await readSafetensors(
    await store.readStream('model.safetensors'),
    info.sizeBytes,
    weightsFile,
    (name) => !name.endsWith('position_ids') && !name.startsWith('cls.'),
  );
  const labels = labelsOf(config, at('config.json'));
  const hasClassifier = storedNames('classifier.weight').some((n) => tensors.has(n));
  const numLabels = hasClassifier
    ? tensors.get(storedNames('classifier.weight').find((n) => tensors.has(n))!)!.shape[0]!
    : (labels?.length ?? config.num_labels ?? 2);
  if (labels && labels.length !== numLabels) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${weightsFile}: tensor 'classifier.weight' has ${numLabels} rows, config.json's id2label ${labels.length} labels`,
    );
  }
  const architecture: BertArchitecture = {
    vocabSize: config.vocab_size,
    hiddenSize: config.hidden_size,
    maxTokens: config.max_position_embeddings,
    maxLayers: config.num_hidden_layers,
    maxHeads: config.num_attention_heads,
    headSize: config.hidden_size / config.num_attention_heads,
    maxFfn: config.intermediate_size,
    numLabels,
    typeVocabSize: config.type_vocab_size,
    layerNormEps: config.layer_norm_eps,
  };
  const weights = mapWeights(tensors, architecture, hasClassifier, weightsFile);
  const lowercase = tokenizerConfig.do_lower_case ?? true;
  return {
    architecture,
    labels,
    hasClassifier,
    lowercase,
    // BERT's tokenizer strips accents when it lowercases, unless strip_accents says otherwise.
    stripAccents: tokenizerConfig.strip_accents ?? lowercase,
    vocabText,
    weights,
    uri: store.uri,
  };
}

// tokenizer_config.json (optional) and vocab.txt, checked against config.json.
async function readTokenizerFiles(
  store: ObjectStore,
  config: BertConfig,
  at: (key: string) => string,
): Promise<{ tokenizerConfig: z.infer<typeof TokenizerConfigSchema>; vocabText: string }> {
  let tokenizerConfig: z.infer<typeof TokenizerConfigSchema> = {};
  if ((await store.stat('tokenizer_config.json')) !== undefined) {
    const parsed = TokenizerConfigSchema.safeParse(
      await readJson(store, 'tokenizer_config.json', at('tokenizer_config.json')),
    );
    if (!parsed.success) {
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${at('tokenizer_config.json')}: ${parsed.error.issues[0]!.message}`,
      );
    }
    tokenizerConfig = parsed.data;
  }
  const vocabText = new TextDecoder().decode(await store.read('vocab.txt'));
  let vocabulary: Vocabulary;
  try {
    vocabulary = Vocabulary.parse(vocabText);
  } catch (error) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${at('vocab.txt')}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (vocabulary.size > config.vocab_size) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${at('vocab.txt')}: ${vocabulary.size} tokens, more than config.json's vocab_size ${config.vocab_size}`,
    );
  }

  return { tokenizerConfig, vocabText };
}

// The checkpoint's tensors under the supernet's names, kernels transposed, each shape checked against config.json.
function mapWeights(
  tensors: Map<string, DecodedTensor>,
  architecture: BertArchitecture,
  hasClassifier: boolean,
  weightsFile: string,
): WeightTensor[] {
  const h = architecture.hiddenSize;
  const expectedShapes: Record<string, number[]> = {
    'embeddings.token': [architecture.vocabSize, h],
    'embeddings.position': [architecture.maxTokens, h],
    'embeddings.type': [architecture.typeVocabSize, h],
    'pooler.kernel': [h, h],
    'classifier.kernel': [h, architecture.numLabels],
    'classifier.bias': [architecture.numLabels],
    'attention.query.kernel': [h, h],
    'attention.key.kernel': [h, h],
    'attention.value.kernel': [h, h],
    'attention.output.kernel': [h, h],
    'ffn.input.kernel': [h, architecture.maxFfn],
    'ffn.input.bias': [architecture.maxFfn],
    'ffn.output.kernel': [architecture.maxFfn, h],
  };

  const weights: WeightTensor[] = [];
  const take = (hfName: string, ours: string, part: string, transposed: boolean) => {
    const stored = storedNames(hfName).find((n) => tensors.has(n));
    if (stored === undefined) {
      throw new CheckpointError('MALFORMED_CHECKPOINT', `${weightsFile}: tensor '${hfName}' is missing`);
    }
    const t = tensors.get(stored)!;
    if (transposed && t.shape.length !== 2) {
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${weightsFile}: tensor '${stored}' has shape [${t.shape}], not 2-D`,
      );
    }
    const shape = transposed ? [t.shape[1]!, t.shape[0]!] : [...t.shape];
    const expected = expectedShapes[part] ?? [h];
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      const stored_ = transposed ? `[${t.shape}] (transposed [${shape}])` : `[${shape}]`;
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${weightsFile}: tensor '${stored}' has shape ${stored_}, config.json implies [${expected}]`,
      );
    }
    weights.push({ name: ours, shape, data: transposed ? transpose(t) : t.data });
    tensors.delete(stored);
  };
  for (const [hf, ours, tr] of TOP_MAP) take(hf, ours, ours, tr);
  for (let i = 0; i < architecture.maxLayers; i++) {
    for (const [hf, part, tr] of LAYER_MAP) take(`encoder.layer.${i}.${hf}`, `layers.${i}.${part}`, part, tr);
  }
  if (hasClassifier) for (const [hf, ours, tr] of CLASSIFIER_MAP) take(hf, ours, ours, tr);
  return weights;
}
