import type { SubnetConfig, SupernetConfig } from '../../src/model/config.ts';
import type { Rng } from '../../src/model/random.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';

// A supernet small enough for the pure-JS and wasm backends in unit tests.
export const TINY: SupernetConfig = {
  vocabSize: 50,
  hiddenSize: 16,
  maxTokens: 12,
  maxLayers: 3,
  maxHeads: 4,
  headSize: 4,
  maxFfn: 24,
  numLabels: 2,
  layerNormEps: 1e-5,
};

// A random subnet of `config`: a random non-empty ascending subset of layers, random widths.
export function randomSubnet(config: SupernetConfig, rng: Rng): SubnetConfig {
  const layers = [];
  for (let layer = 0; layer < config.maxLayers; layer++) {
    if (rng.next() < 0.6)
      layers.push({ layer, heads: 1 + rng.int(config.maxHeads), ffn: 1 + rng.int(config.maxFfn) });
  }
  if (layers.length === 0) layers.push({ layer: rng.int(config.maxLayers), heads: 1, ffn: 1 });
  return { layers };
}

// A random batch whose rows have random lengths (>= 2), padded with id 0 and mask 0.
export function randomBatch(config: SupernetConfig, rng: Rng, batch: number, tokens: number): TokenBatch {
  const ids = new Int32Array(batch * tokens);
  const mask = new Int32Array(batch * tokens);
  for (let r = 0; r < batch; r++) {
    const length = r === 0 ? tokens : 2 + rng.int(tokens - 1);
    for (let t = 0; t < length; t++) {
      ids[r * tokens + t] = 1 + rng.int(config.vocabSize - 1);
      mask[r * tokens + t] = 1;
    }
  }
  return { batch, tokens, ids, mask };
}

// Largest absolute difference between two arrays of equal length.
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

// TINY with token-type embeddings: a pair model.
export const TINY_PAIR: SupernetConfig = { ...TINY, typeVocabSize: 2 };

// A random batch of packed pairs: each row `[CLS] a [SEP] b [SEP]` of random length (>= 3) with token types 0 on
// its first part and 1 on its second, padded with id 0, mask 0 and type 0.
export function randomPairBatch(config: SupernetConfig, rng: Rng, batch: number, tokens: number): TokenBatch {
  const { ids, mask } = randomBatch(config, rng, batch, Math.max(3, tokens));
  const width = Math.max(3, tokens);
  const typeIds = new Int32Array(batch * width);
  for (let r = 0; r < batch; r++) {
    let length = 0;
    while (length < width && mask[r * width + length] === 1) length++;
    if (length < 3) {
      mask.fill(1, r * width, r * width + 3);
      for (let t = length; t < 3; t++) ids[r * width + t] = 1 + rng.int(config.vocabSize - 1);
      length = 3;
    }
    // The second part starts after the first [SEP]: at 2 to length - 1.
    const secondStart = 2 + rng.int(length - 2);
    typeIds.fill(1, r * width + secondStart, r * width + length);
  }
  return { batch, tokens: width, ids, mask, typeIds };
}
