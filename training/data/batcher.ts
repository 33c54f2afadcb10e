import { createHash } from 'node:crypto';
import { Rng } from '../../src/model/random.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import type { Truncation, WordPieceTokenizer } from '../../src/tokenizer/index.ts';

// A text's wordpieces (no [CLS]/[SEP]) and its label: encoded once, packed at any length. A pair's second text
// has its own pieces: the two are packed `[CLS] a [SEP] b [SEP]` with token types 0 and 1.
export interface EncodedExample {
  pieces: Int32Array;
  pairPieces?: Int32Array;
  label: number;
}

// A seed derived from names and numbers: the same on every machine, independent across uses.
export function deriveSeed(...parts: Array<string | number>): number {
  return createHash('sha256').update(parts.join('/')).digest().readUInt32LE(0);
}

// Deterministic batches: the batch of step s is a function of (seed, s) alone, so a resumed stage reads exactly
// the examples it would have read. Each epoch is a fresh permutation of the examples. With `priors` (a
// probability per label for every example, [examples * labels]), each batch carries its rows' priors too.
export class Batcher {
  private epoch = -1;
  private order: Uint32Array = new Uint32Array(0);

  constructor(
    private readonly examples: readonly EncodedExample[],
    private readonly batchSize: number,
    private readonly seed: number,
    private readonly tokenizer: WordPieceTokenizer,
    private readonly truncation: Truncation,
    private readonly priors?: Float32Array,
  ) {
    if (examples.length === 0) throw new Error('no training examples');
    if (priors !== undefined && priors.length % examples.length !== 0) {
      throw new Error(
        `priors hold ${priors.length} values, not a whole number per example (${examples.length})`,
      );
    }
  }

  // The rows of step `step`, read to at most `tokens` tokens.
  batchAt(
    step: number,
    tokens: number,
  ): { batch: TokenBatch; labels: Int32Array; priors: Float32Array | undefined; epoch: number } {
    const rows: EncodedExample[] = [];
    const indices: number[] = [];
    let epoch = 0;
    for (let r = 0; r < this.batchSize; r++) {
      const position = step * this.batchSize + r;
      epoch = Math.floor(position / this.examples.length);
      const index = this.permutation(epoch)[position % this.examples.length]!;
      indices.push(index);
      rows.push(this.examples[index]!);
    }
    let priors: Float32Array | undefined;
    if (this.priors !== undefined) {
      const width = this.priors.length / this.examples.length;
      priors = new Float32Array(indices.length * width);
      indices.forEach((index, r) => {
        priors!.set(this.priors!.subarray(index * width, (index + 1) * width), r * width);
      });
    }
    return { ...pack(this.tokenizer, rows, tokens, this.truncation), priors, epoch };
  }

  private permutation(epoch: number): Uint32Array {
    if (epoch !== this.epoch) {
      const rng = new Rng(deriveSeed(this.seed, 'epoch', epoch));
      const order = Uint32Array.from(this.examples.keys());
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      this.order = order;
      this.epoch = epoch;
    }
    return this.order;
  }
}

// Packs examples into one padded batch with their labels.
export function pack(
  tokenizer: WordPieceTokenizer,
  rows: readonly EncodedExample[],
  tokens: number,
  truncation: Truncation,
): { batch: TokenBatch; labels: Int32Array } {
  const encoded = tokenizer.packPieces(
    rows.map((r) => (r.pairPieces === undefined ? r.pieces : { first: r.pieces, second: r.pairPieces })),
    { maxTokens: tokens, truncation },
  );
  const { batch, ids, mask, typeIds } = encoded;
  return {
    batch: { batch, tokens: encoded.tokens, ids, mask, ...(typeIds && { typeIds }) },
    labels: Int32Array.from(rows, (r) => r.label),
  };
}
