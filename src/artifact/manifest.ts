import { z } from 'zod';
import { ArtifactError } from '../errors.ts';
import { CatalogPointSchema, SupernetConfigSchema } from '../model/config.ts';
import { InputKindSchema } from '../model/task.ts';

// The manifest format this code writes. Format 2 records the task (`task`: single texts or text pairs, and the
// data fields it was trained from) and may carry token-type embeddings (`architecture.typeVocabSize`). This
// reader accepts formats 1 and 2; a format-1 manifest (no `task`, no token types) reads as a single-text task.
// A format-1 reader accepts format 1 only and refuses format 2 as UNSUPPORTED_FORMAT_VERSION.
export const FORMAT_VERSION = 2;
// Every format this code reads.
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];
// Every weight entry starts at a multiple of this many bytes in weights.bin.
export const WEIGHT_ALIGNMENT_BYTES = 64;
// Bytes per element of each stored dtype.
export const DTYPE_BYTES = { float32: 4, float16: 2 } as const;

// A model name: lowercase, URL- and key-safe.
export const ModelNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
  message: 'model name must match ^[a-z0-9][a-z0-9-]{0,62}$',
});
// A version id: also the folder name and the content of LATEST.
export const VersionSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  message: 'version must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
});

// Validates a model name or version id from a caller (INVALID_ARTIFACT naming it): both become storage keys.
export function parseArtifactName(kind: 'model' | 'version', value: string): string {
  const parsed = (kind === 'model' ? ModelNameSchema : VersionSchema).safeParse(value);
  if (!parsed.success) {
    throw new ArtifactError(
      'INVALID_ARTIFACT',
      `${kind} '${String(value).slice(0, 80)}': ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}

const count = z.number().int().nonnegative();

// How a text becomes token ids: WordPiece over vocab.txt (one token per line, the line number is the id).
export const TokenizerSettingsSchema = z
  .object({
    kind: z.literal('wordpiece'),
    lowercase: z.boolean(),
    stripAccents: z.boolean(),
    vocabFile: z.literal('vocab.txt'),
    vocabSize: z.number().int().min(5),
    // The most tokens a text is read to, [CLS] and [SEP] included.
    maxTokens: z.number().int().min(2),
    // What is kept of a long text: its head, or its head and tail with the middle dropped.
    truncation: z.enum(['head', 'head-tail']),
    specialTokens: z
      .object({
        pad: z.string().min(1),
        unk: z.string().min(1),
        cls: z.string().min(1),
        sep: z.string().min(1),
      })
      .strict(),
  })
  .strict()
  .refine((t) => new Set(Object.values(t.specialTokens)).size === 4, {
    message: 'special tokens must be four distinct tokens',
    path: ['specialTokens'],
  });
export type TokenizerSettings = z.infer<typeof TokenizerSettingsSchema>;

// One tensor in weights.bin: `length` bytes from byte `offset`, little-endian.
export const WeightEntrySchema = z
  .object({
    name: z.string().min(1).max(256),
    shape: z.array(z.number().int().positive()).max(8),
    dtype: z.enum(['float32', 'float16']),
    offset: count,
    length: count,
  })
  .strict();
export type WeightEntry = z.infer<typeof WeightEntrySchema>;

// A file of the version folder: its sha256 (lowercase hex) and size.
export const FileDigestSchema = z
  .object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lowercase hex digits' }),
    bytes: count,
  })
  .strict();
export type FileDigest = z.infer<typeof FileDigestSchema>;

const choices = z.array(z.number().int().positive()).min(1);

// The axes the search explored (for the record and for later searches on the same supernet).
export const SearchSpaceSchema = z
  .object({ depthChoices: choices, headChoices: choices, ffnChoices: choices, tokenChoices: choices })
  .strict();
export type SearchSpace = z.infer<typeof SearchSpaceSchema>;

// Where the weights came from, enough to reproduce them.
export const ProvenanceSchema = z
  .object({
    data: z.string().min(1),
    // Examples per label in each split (train, dev, test).
    classBalance: z.record(z.string(), z.record(z.string(), count)).optional(),
    splitSeed: z.string().min(1),
    recipe: z.record(z.string(), z.unknown()),
    commit: z.string().min(1),
    host: z.string().min(1).optional(),
    trainingSeconds: z.number().nonnegative().optional(),
  })
  .strict();
export type Provenance = z.infer<typeof ProvenanceSchema>;

// The columns of the training data a model's inputs and labels were read from.
export const TaskFieldsSchema = z
  .object({
    text: z.string().min(1).max(128),
    textPair: z.string().min(1).max(128).optional(),
    label: z.string().min(1).max(128),
  })
  .strict();

// What the model classifies: single texts, or text pairs (`[CLS] text [SEP] textPair [SEP]`, token types 0 and
// 1); and, when the data named them, the fields it was trained from. The label names are the manifest's `labels`.
export const TaskSchema = z
  .object({ input: InputKindSchema, fields: TaskFieldsSchema.optional() })
  .strict()
  .refine((t) => t.fields === undefined || (t.fields.textPair !== undefined) === (t.input === 'pair'), {
    message: 'fields.textPair is given exactly when input is pair',
    path: ['fields', 'textPair'],
  });
export type Task = z.infer<typeof TaskSchema>;

// The task of a format-1 manifest, which predates text pairs.
export const SINGLE_TEXT_TASK: Task = { input: 'single' };

// manifest.json: everything a reader needs to verify and load one published supernet version.
export const ManifestSchema = z
  .object({
    formatVersion: z.union([z.literal(1), z.literal(2)]),
    model: ModelNameSchema,
    version: VersionSchema,
    createdAt: z.iso.datetime(),
    architecture: SupernetConfigSchema,
    tokenizer: TokenizerSettingsSchema,
    labels: z.array(z.string().min(1).max(128)),
    // Required from format 2 on; absent in format 1 (read as SINGLE_TEXT_TASK).
    task: TaskSchema.optional(),
    weights: z
      .object({ file: z.literal('weights.bin'), entries: z.array(WeightEntrySchema).min(1) })
      .strict(),
    files: z.object({ 'weights.bin': FileDigestSchema, 'vocab.txt': FileDigestSchema }).strict(),
    catalog: z.array(CatalogPointSchema),
    searchSpace: SearchSpaceSchema.optional(),
    provenance: ProvenanceSchema,
  })
  .strict()
  .superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const arch = m.architecture;

    if (m.formatVersion === 1) {
      if (m.task !== undefined) issue(['task'], 'task needs formatVersion 2');
      if (arch.typeVocabSize !== undefined) {
        issue(['architecture', 'typeVocabSize'], 'token types need formatVersion 2');
      }
      if (arch.form !== undefined) issue(['architecture', 'form'], 'the encoder form needs formatVersion 2');
      const unmeasured = m.catalog.findIndex((e) => e.devAccuracy === null);
      if (unmeasured >= 0)
        issue(['catalog', unmeasured, 'devAccuracy'], 'an unknown accuracy needs formatVersion 2');
    } else if (m.task === undefined) {
      issue(['task'], 'missing (formatVersion 2 records the task)');
    } else if (m.task.input === 'pair' && (arch.typeVocabSize ?? 0) < 2) {
      issue(
        ['architecture', 'typeVocabSize'],
        'a pair task needs token types 0 and 1 (typeVocabSize of at least 2)',
      );
    }
    if (m.labels.length !== arch.numLabels) {
      issue(['labels'], `${m.labels.length} labels for an architecture with numLabels ${arch.numLabels}`);
    }
    if (new Set(m.labels).size !== m.labels.length) issue(['labels'], 'labels must be distinct');
    if (m.tokenizer.vocabSize > arch.vocabSize) {
      issue(
        ['tokenizer', 'vocabSize'],
        `${m.tokenizer.vocabSize} exceeds architecture.vocabSize ${arch.vocabSize}`,
      );
    }
    if (m.tokenizer.maxTokens > arch.maxTokens) {
      issue(
        ['tokenizer', 'maxTokens'],
        `${m.tokenizer.maxTokens} exceeds architecture.maxTokens ${arch.maxTokens}`,
      );
    }

    checkWeightEntries(m.weights.entries, m.files['weights.bin'].bytes, issue);

    const ids = new Set<string>();
    m.catalog.forEach((entry, i) => {
      if (ids.has(entry.id)) issue(['catalog', i, 'id'], `duplicate operating point '${entry.id}'`);
      ids.add(entry.id);
      const where = `operating point '${entry.id}'`;
      if (entry.tokens > m.tokenizer.maxTokens) {
        issue(
          ['catalog', i, 'tokens'],
          `${where} reads ${entry.tokens} tokens, tokenizer.maxTokens is ${m.tokenizer.maxTokens}`,
        );
      }
      for (const l of entry.subnet.layers) {
        if (l.layer >= arch.maxLayers || l.heads > arch.maxHeads || l.ffn > arch.maxFfn) {
          issue(['catalog', i, 'subnet'], `${where}: layer ${l.layer} does not fit the architecture maxima`);
          break;
        }
      }
    });

    if (m.searchSpace) {
      const limits = {
        depthChoices: arch.maxLayers,
        headChoices: arch.maxHeads,
        ffnChoices: arch.maxFfn,
        tokenChoices: m.tokenizer.maxTokens,
      } as const;
      for (const [axis, max] of Object.entries(limits) as [keyof typeof limits, number][]) {
        const bad = m.searchSpace[axis].find((c) => c > max);
        if (bad !== undefined) issue(['searchSpace', axis], `choice ${bad} exceeds the maximum ${max}`);
      }
    }
  })
  .transform((m) => ({ ...m, task: m.task ?? SINGLE_TEXT_TASK }));
// A manifest as read: architecture defaults filled in, and the task (SINGLE_TEXT_TASK for format 1).
export type Manifest = z.infer<typeof ManifestSchema>;

// The byte length a tensor of this shape and dtype takes (undefined when not a safe integer).
export function weightByteLength(
  shape: readonly number[],
  dtype: keyof typeof DTYPE_BYTES,
): number | undefined {
  const bytes = shape.reduce((n, d) => n * d, DTYPE_BYTES[dtype]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

// Entry names unique, lengths matching shape and dtype, offsets aligned, no overlap, all inside the file.
function checkWeightEntries(
  entries: readonly WeightEntry[],
  fileBytes: number,
  issue: (path: (string | number)[], message: string) => void,
): void {
  const names = new Set<string>();
  entries.forEach((e, i) => {
    const where = `weight entry '${e.name}'`;
    if (names.has(e.name)) issue(['weights', 'entries', i, 'name'], `duplicate ${where}`);
    names.add(e.name);
    const expected = weightByteLength(e.shape, e.dtype);
    if (e.length !== expected) {
      issue(
        ['weights', 'entries', i, 'length'],
        `${where}: length ${e.length}, shape [${e.shape}] ${e.dtype} needs ${expected}`,
      );
    }
    if (e.offset % WEIGHT_ALIGNMENT_BYTES !== 0) {
      issue(
        ['weights', 'entries', i, 'offset'],
        `${where}: offset ${e.offset} is not a multiple of ${WEIGHT_ALIGNMENT_BYTES}`,
      );
    }
    if (e.offset + e.length > fileBytes) {
      issue(
        ['weights', 'entries', i],
        `${where}: bytes ${e.offset}-${e.offset + e.length} run past the ${fileBytes}-byte weights.bin`,
      );
    }
  });
  const byOffset = entries.map((e, i) => ({ e, i })).sort((a, b) => a.e.offset - b.e.offset);
  for (let k = 1; k < byOffset.length; k++) {
    const prev = byOffset[k - 1]!.e;
    const { e, i } = byOffset[k]!;
    if (e.offset < prev.offset + prev.length) {
      issue(
        ['weights', 'entries', i, 'offset'],
        `weight entry '${e.name}' (from byte ${e.offset}) overlaps '${prev.name}' (bytes ${prev.offset}-${prev.offset + prev.length})`,
      );
    }
  }
}

// Validates a parsed manifest.json; throws UNSUPPORTED_FORMAT_VERSION for a format version this reader does not
// read (checked first), else MALFORMED_MANIFEST naming the file and the first problem's path.
export function parseManifest(json: unknown, fileName: string): Manifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ArtifactError('MALFORMED_MANIFEST', `manifest '${fileName}': not a JSON object`);
  }
  const formatVersion = (json as Record<string, unknown>).formatVersion;
  if (formatVersion === undefined) {
    throw new ArtifactError('MALFORMED_MANIFEST', `manifest '${fileName}': formatVersion: missing`);
  }
  if (typeof formatVersion !== 'number' || !READABLE_FORMAT_VERSIONS.includes(formatVersion)) {
    throw new ArtifactError(
      'UNSUPPORTED_FORMAT_VERSION',
      `manifest '${fileName}' has formatVersion ${JSON.stringify(formatVersion)?.slice(0, 40)}; this reader supports ${READABLE_FORMAT_VERSIONS.join(' and ')}`,
    );
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `manifest '${fileName}': ${first?.path.join('.') || '(root)'}: ${first?.message}`,
    );
  }
  return parsed.data;
}
