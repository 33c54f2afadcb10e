import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { z } from 'zod';
import { ArtifactError } from '../errors.ts';
import { type CatalogPoint, formatOperatingPointId, type SupernetConfigSchema } from '../model/config.ts';
import type { WeightTensor } from '../model/weights.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import {
  FORMAT_VERSION,
  type Manifest,
  type Provenance,
  parseArtifactName,
  parseManifest,
  type SearchSpace,
  SINGLE_TEXT_TASK,
  type Task,
  type TokenizerSettings,
} from './manifest.ts';
import { layoutWeights, weightChunks } from './weights-file.ts';

// What training hands over to publish one supernet version.
export interface PublishSupernetOptions {
  model: string;
  // Default: a sortable id from the creation time, e.g. 20261122T073400Z-1a2b3c4d.
  version?: string;
  architecture: z.input<typeof SupernetConfigSchema>;
  // vocabFile is always vocab.txt; vocabSize defaults to the number of lines of vocabText.
  tokenizer: Omit<TokenizerSettings, 'vocabFile' | 'vocabSize'> & {
    vocabFile?: 'vocab.txt';
    vocabSize?: number;
  };
  labels: string[];
  // Default: SINGLE_TEXT_TASK.
  task?: Task;
  weights: readonly WeightTensor[];
  // One token per line; the line number (from 0) is the token id.
  vocabText: string;
  // The id of an entry defaults to formatOperatingPointId({ subnet, tokens }).
  catalog: readonly (Omit<CatalogPoint, 'id'> & { id?: string })[];
  searchSpace?: SearchSpace;
  provenance: Provenance;
  // How weights.bin stores the tensors (default float32).
  weightDtype?: 'float32' | 'float16';
  // Replace a version that is already published (default false: refuse with VERSION_EXISTS).
  overwrite?: boolean;
  // Point <model>/LATEST at this version once it is committed (default true).
  updateLatest?: boolean;
  // Default: now.
  createdAt?: Date;
}

// Publishes a supernet version to `<model>/<version>/` of the store: weights.bin and vocab.txt first, then
// manifest.json (the commit marker), then <model>/LATEST. Everything is validated before the first write.
export async function publishSupernet(
  store: ObjectStore,
  options: PublishSupernetOptions,
): Promise<Manifest> {
  const model = parseArtifactName('model', options.model);
  const createdAt = options.createdAt ?? new Date();
  const version = parseArtifactName('version', options.version ?? defaultVersion(createdAt));
  const prefix = `${model}/${version}/`;
  const manifestKey = `${prefix}manifest.json`;

  const vocabSize = checkVocabulary(options.vocabText, options.tokenizer);
  const dtype = options.weightDtype ?? 'float32';
  const layout = layoutWeights(options.weights, dtype);
  const vocabBytes = new TextEncoder().encode(options.vocabText);

  // The manifest as a reader will see it (its JSON text, parsed back) for a weights.bin of this sha256.
  const manifestFor = (weightsSha256: string) => {
    const draft = {
      formatVersion: FORMAT_VERSION,
      model,
      version,
      createdAt: createdAt.toISOString(),
      architecture: options.architecture,
      tokenizer: { ...options.tokenizer, vocabFile: 'vocab.txt', vocabSize },
      labels: options.labels,
      task: options.task ?? SINGLE_TEXT_TASK,
      weights: { file: 'weights.bin', entries: layout.entries },
      files: {
        'weights.bin': { sha256: weightsSha256, bytes: layout.bytes },
        'vocab.txt': { sha256: sha256Hex(vocabBytes), bytes: vocabBytes.byteLength },
      },
      catalog: options.catalog.map((e) => ({ ...e, id: e.id ?? formatOperatingPointId(e) })),
      ...(options.searchSpace ? { searchSpace: options.searchSpace } : {}),
      provenance: options.provenance,
    };
    const text = `${JSON.stringify(draft, null, 2)}\n`;
    return { text, manifest: parseManifest(JSON.parse(text), manifestKey) };
  };
  // Everything but the weights' digest is validated before the first write.
  manifestFor('0'.repeat(64));

  if (await store.stat(manifestKey)) {
    if (!options.overwrite) {
      throw new ArtifactError(
        'VERSION_EXISTS',
        `'${manifestKey}' already exists in ${store.uri}; pass overwrite: true to replace version ${version}`,
      );
    }
    // Un-commit first, so that no reader pairs the old manifest with new files.
    await store.remove(manifestKey);
  }
  // weights.bin is streamed tensor by tensor and hashed as it goes: no second copy of the weights in memory.
  const hash = createHash('sha256');
  const chunks = weightChunks(options.weights, layout.entries);
  await store.write(
    `${prefix}weights.bin`,
    Readable.from(
      (function* () {
        for (const chunk of chunks) {
          hash.update(chunk);
          yield chunk;
        }
      })(),
    ),
  );
  const { text, manifest } = manifestFor(hash.digest('hex'));
  await store.write(`${prefix}vocab.txt`, vocabBytes);
  await store.write(manifestKey, new TextEncoder().encode(text));
  if (options.updateLatest ?? true) {
    await store.write(`${model}/LATEST`, new TextEncoder().encode(`${version}\n`));
  }
  return manifest;
}

// Lowercase hex sha256 of some bytes.
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// `YYYYMMDDTHHMMSSZ-` and 8 random hex digits: sorts by time, unique across concurrent publishers.
function defaultVersion(at: Date): string {
  const stamp = at.toISOString().slice(0, 19).replace(/[-:]/g, '');
  return `${stamp}Z-${randomBytes(4).toString('hex')}`;
}

// One non-empty, distinct token per line, the special tokens among them; returns the number of tokens.
function checkVocabulary(text: string, tokenizer: PublishSupernetOptions['tokenizer']): number {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const seen = new Map<string, number>();
  lines.forEach((token, i) => {
    if (token.length === 0 || token.includes('\r')) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `vocab.txt line ${i + 1}: empty token or a carriage return`,
      );
    }
    const first = seen.get(token);
    if (first !== undefined) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `vocab.txt line ${i + 1}: token '${token}' repeats line ${first + 1}`,
      );
    }
    seen.set(token, i);
  });
  if (tokenizer.vocabSize !== undefined && tokenizer.vocabSize !== lines.length) {
    throw new ArtifactError(
      'INVALID_ARTIFACT',
      `vocab.txt has ${lines.length} tokens, tokenizer.vocabSize says ${tokenizer.vocabSize}`,
    );
  }
  for (const [role, token] of Object.entries(tokenizer.specialTokens)) {
    if (!seen.has(token)) {
      throw new ArtifactError('INVALID_ARTIFACT', `vocab.txt lacks the ${role} token '${token}'`);
    }
  }
  return lines.length;
}
