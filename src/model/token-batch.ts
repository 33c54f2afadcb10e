import { ModelError } from '../errors.ts';

// A batch of token ids and attention masks, row-major [batch, tokens]: what a model runs on.
export interface TokenBatch {
  batch: number;
  tokens: number;
  ids: Int32Array;
  mask: Int32Array;
  // Token types (0 first text, 1 second text) for a pair model; absent: all 0.
  typeIds?: Int32Array;
}

// Limits a batch must respect for a given model.
export interface TokenBatchLimits {
  vocabSize: number;
  maxTokens: number;
  // Absent: the model takes no token types.
  typeVocabSize?: number | undefined;
}

// Throws INVALID_INPUT, naming the problem, unless the batch can run: checked before tfjs or an engine sees it.
export function validateTokenBatch(input: TokenBatch, limits: TokenBatchLimits): void {
  const { batch, tokens, ids, mask } = input;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new ModelError('INVALID_INPUT', `batch must hold at least one row, got ${batch}`);
  }
  if (!Number.isInteger(tokens) || tokens < 1 || tokens > limits.maxTokens) {
    throw new ModelError('INVALID_INPUT', `tokens per row must be 1 to ${limits.maxTokens}, got ${tokens}`);
  }
  if (!(ids instanceof Int32Array) || ids.length !== batch * tokens) {
    throw new ModelError(
      'INVALID_INPUT',
      `ids must be an Int32Array of batch * tokens = ${batch * tokens} values`,
    );
  }
  if (!(mask instanceof Int32Array) || mask.length !== batch * tokens) {
    throw new ModelError(
      'INVALID_INPUT',
      `mask must be an Int32Array of batch * tokens = ${batch * tokens} values`,
    );
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= limits.vocabSize) {
      throw new ModelError(
        'INVALID_INPUT',
        `token id ${id} at row ${Math.floor(i / tokens)}, position ${i % tokens} is outside the vocabulary [0, ${limits.vocabSize})`,
      );
    }
    const m = mask[i]!;
    if (m !== 0 && m !== 1) {
      throw new ModelError('INVALID_INPUT', `mask values must be 0 or 1, got ${m} at index ${i}`);
    }
  }
  if (input.typeIds !== undefined) checkTypeIds(input.typeIds, batch * tokens, limits.typeVocabSize);
  for (let row = 0; row < batch; row++) {
    if (mask[row * tokens] !== 1) {
      throw new ModelError(
        'INVALID_INPUT',
        `row ${row} has no real token at position 0 (mask must start with 1)`,
      );
    }
  }
}

function checkTypeIds(typeIds: Int32Array, size: number, typeVocabSize: number | undefined): void {
  if (typeVocabSize === undefined) {
    throw new ModelError(
      'INVALID_INPUT',
      'token types given to a single-text model, which has no type embeddings',
    );
  }
  if (!(typeIds instanceof Int32Array) || typeIds.length !== size) {
    throw new ModelError('INVALID_INPUT', `typeIds must be an Int32Array of batch * tokens = ${size} values`);
  }
  for (let i = 0; i < typeIds.length; i++) {
    const type = typeIds[i]!;
    if (type < 0 || type >= typeVocabSize) {
      throw new ModelError(
        'INVALID_INPUT',
        `token type ${type} at index ${i} is outside [0, ${typeVocabSize})`,
      );
    }
  }
}

// One row as a model reads it, framed (`[CLS] a [SEP]`, or `[CLS] a [SEP] b [SEP]` with its token types).
export interface TokenRow {
  ids: Int32Array;
  // Token types of a pair row (0 on the first text, 1 on the second); absent: all 0.
  typeIds?: Int32Array;
}

// Rows, each already framed, padded with `padId` to the longest: the batch of one engine call. The mask is 1
// over each row's own ids; token types are given when any row has them.
export function padRows(rows: readonly TokenRow[], padId: number): TokenBatch {
  let tokens = 0;
  let pairs = false;
  for (const row of rows) {
    tokens = Math.max(tokens, row.ids.length);
    if (row.typeIds !== undefined) pairs = true;
  }
  const batch = rows.length;
  const ids = new Int32Array(batch * tokens).fill(padId); // [batch, tokens]
  const mask = new Int32Array(batch * tokens); // [batch, tokens]
  const typeIds = pairs ? new Int32Array(batch * tokens) : undefined; // [batch, tokens]
  for (let r = 0; r < batch; r++) {
    const row = rows[r]!;
    ids.set(row.ids, r * tokens);
    mask.fill(1, r * tokens, r * tokens + row.ids.length);
    if (row.typeIds !== undefined) typeIds!.set(row.typeIds, r * tokens);
  }
  return { batch, tokens, ids, mask, ...(typeIds && { typeIds }) };
}
