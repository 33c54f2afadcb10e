import { type HfCheckpoint, readHfCheckpoint } from '../src/checkpoint/hf-checkpoint.ts';
import type { SupernetConfig } from '../src/model/config.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import type { S3StoreOptions } from '../src/storage/index.ts';
import { openStore } from '../src/storage/index.ts';
import { Vocabulary, WordPieceTokenizer } from '../src/tokenizer/index.ts';
import { ConfigError } from './config.ts';

// A checkpoint a training run starts from: its tokenizer, and its weights under the supernet's names (the
// classifier only when it has as many labels as the task).
export interface InitCheckpoint {
  uri: string;
  tokenizer: WordPieceTokenizer;
  weights: WeightTensor[];
}

const COMPARED = [
  'vocabSize',
  'hiddenSize',
  'maxTokens',
  'maxLayers',
  'maxHeads',
  'headSize',
  'maxFfn',
  'typeVocabSize',
  'layerNormEps',
] as const;

// Reads `init.checkpoint` and checks that the config's architecture is the checkpoint's: one line naming the
// config, the field, both values and what to write instead.
export async function loadInitCheckpoint(
  uri: string,
  architecture: SupernetConfig,
  where: string,
  s3: S3StoreOptions,
): Promise<InitCheckpoint> {
  let checkpoint: HfCheckpoint;
  try {
    checkpoint = await readHfCheckpoint(openStore(uri, { s3 }));
  } catch (error) {
    throw new ConfigError(`config ${where}: init.checkpoint: ${(error as Error).message}`, { cause: error });
  }
  const ours = architecture as unknown as Record<string, unknown>;
  const theirs = checkpoint.architecture as unknown as Record<string, unknown>;
  const differ = COMPARED.filter((k) => ours[k] !== theirs[k]);
  if (differ.length > 0) {
    const fields = differ
      .map((k) => `architecture.${k} ${ours[k]} (the checkpoint's is ${theirs[k]})`)
      .join(', ');
    throw new ConfigError(`config ${where}: ${fields}: the architecture must be init.checkpoint's`);
  }
  const tokenizer = new WordPieceTokenizer(Vocabulary.parse(checkpoint.vocabText), {
    lowercase: checkpoint.lowercase,
    stripAccents: checkpoint.stripAccents,
  });
  // A classifier for other labels than the task's is left to be trained from its initialization.
  const weights = checkpoint.weights.filter(
    (w) => !w.name.startsWith('classifier.') || checkpoint.architecture.numLabels === architecture.numLabels,
  );
  return { uri: checkpoint.uri, tokenizer, weights };
}
