import type { Manifest } from '../src/artifact/manifest.ts';
import { publishSupernet } from '../src/artifact/publish-supernet.ts';
import { type HfCheckpoint, readHfCheckpoint } from '../src/checkpoint/hf-checkpoint.ts';
import { CheckpointError } from '../src/errors.ts';
import { catalogCost } from '../src/model/accounting.ts';
import { largestSubnet, type SupernetConfig } from '../src/model/config.ts';
import type { ObjectStore } from '../src/storage/object-store.ts';
import { gitCommit, hostDescription } from './provenance.ts';

// What `npm run import` turns into an artifact, besides the checkpoint itself.
export interface ImportOptions {
  // The model's name in the repository (default: the checkpoint folder's last path segment, made safe).
  model?: string;
  version?: string;
  // The tokens the catalog's point reads (default: the checkpoint's max_position_embeddings, at most 512).
  tokens?: number;
  // Label names replacing the checkpoint's id2label (as many as its classifier has rows).
  labels?: readonly string[];
  weightDtype?: 'float32' | 'float16';
  // Accuracy measured on labelled data (an --eval file), when given.
  accuracy?: { dev: number; test?: number };
  // What a request gives the model: one text, or a pair read as [CLS] a [SEP] b [SEP] (default single).
  input?: 'single' | 'pair';
}

// The model name a checkpoint location suggests: its last segment, lowercased, other characters as '-'.
export function modelNameFromUri(uri: string): string {
  const last = uri.replace(/\/+$/, '').split('/').pop() ?? '';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return /^[a-z0-9]/.test(name) ? name : `bert-${name}`.slice(0, 63);
}

// The artifact's architecture for a checkpoint: its own sizes, in the BERT form.
export function importedArchitecture(checkpoint: HfCheckpoint): SupernetConfig {
  return { ...checkpoint.architecture, form: 'bert' };
}

// Reads a Hugging Face BERT sequence classifier and publishes it to `out` as a servable artifact of the BERT
// form, its full model the catalog's one operating point.
export async function importCheckpoint(
  source: ObjectStore,
  out: ObjectStore,
  options: ImportOptions = {},
): Promise<Manifest> {
  const checkpoint = await readHfCheckpoint(source);
  if (!checkpoint.hasClassifier) {
    throw new CheckpointError(
      'UNSUPPORTED_CHECKPOINT',
      `${source.uri}: a bare encoder (no classifier.weight) cannot answer requests; import a BertForSequenceClassification, or train from it with "init": { "checkpoint": ... }`,
    );
  }
  const architecture = importedArchitecture(checkpoint);
  const labels =
    options.labels !== undefined
      ? [...options.labels]
      : (checkpoint.labels ?? Array.from({ length: architecture.numLabels }, (_, i) => `LABEL_${i}`));
  if (labels.length !== architecture.numLabels) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `--labels names ${labels.length} labels, the checkpoint's classifier has ${architecture.numLabels}`,
    );
  }
  const tokens = options.tokens ?? Math.min(512, architecture.maxTokens);
  if (!Number.isInteger(tokens) || tokens < 2 || tokens > architecture.maxTokens) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `--tokens ${tokens}: must be 2 to the checkpoint's max_position_embeddings ${architecture.maxTokens}`,
    );
  }
  const subnet = largestSubnet(architecture);
  return publishSupernet(out, {
    model: options.model ?? modelNameFromUri(source.uri),
    ...(options.version !== undefined && { version: options.version }),
    architecture,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: checkpoint.lowercase,
      stripAccents: checkpoint.stripAccents,
      maxTokens: tokens,
      // As the checkpoint's own tokenizer truncates: the start of a long text.
      truncation: 'head',
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels,
    task: { input: options.input ?? 'single' },
    weights: checkpoint.weights,
    vocabText: checkpoint.vocabText,
    catalog: [
      {
        subnet,
        tokens,
        ...catalogCost(architecture, { subnet, tokens }),
        devAccuracy: options.accuracy?.dev ?? null,
        ...(options.accuracy?.test !== undefined && { testAccuracy: options.accuracy.test }),
      },
    ],
    provenance: {
      data: `imported from ${checkpoint.uri}`,
      splitSeed: 'none',
      recipe: { import: { checkpoint: checkpoint.uri, tokens, labels } },
      commit: gitCommit(),
      host: hostDescription(),
    },
    weightDtype: options.weightDtype ?? 'float32',
  });
}
