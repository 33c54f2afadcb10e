import type { EncodedExample } from './data/batcher.ts';

// The honest reference: logistic regression on hashed unigram and bigram counts of the same wordpieces the
// model reads (head and tail kept at the same token budget), trained with AdaGrad.
export interface BowResult {
  tokens: number;
  devAccuracy: number;
  testAccuracy: number;
}

const BUCKETS = 1 << 20;

function features(pieces: Int32Array, tokens: number): Map<number, number> {
  const budget = tokens - 2;
  const head = Math.ceil(budget / 2);
  const kept =
    pieces.length <= budget
      ? pieces
      : Int32Array.from([...pieces.subarray(0, head), ...pieces.subarray(pieces.length - (budget - head))]);
  const counts = new Map<number, number>();
  const add = (h: number) => counts.set(h, (counts.get(h) ?? 0) + 1);
  for (let i = 0; i < kept.length; i++) {
    add(Math.imul(kept[i]!, 0x9e3779b1) >>> 12);
    if (i + 1 < kept.length)
      add((Math.imul(kept[i]!, 0x85ebca6b) ^ Math.imul(kept[i + 1]!, 0xc2b2ae35)) >>> 12);
  }
  // Log-scaled counts, L2-normalized.
  let norm = 0;
  for (const [k, v] of counts) {
    const w = 1 + Math.log(v);
    counts.set(k, w);
    norm += w * w;
  }
  norm = Math.sqrt(norm) || 1;
  for (const [k, v] of counts) counts.set(k, v / norm);
  return counts;
}

// Trains on `train` at each token budget and reports dev and test accuracy.
export function bowBaseline(
  train: readonly EncodedExample[],
  dev: readonly EncodedExample[],
  test: readonly EncodedExample[],
  tokenChoices: readonly number[],
  epochs = 4,
): BowResult[] {
  return tokenChoices.map((tokens) => {
    const weights = new Float32Array(BUCKETS);
    const squares = new Float32Array(BUCKETS).fill(1e-8);
    let bias = 0;
    const trainFeatures = train.map((e) => features(e.pieces, tokens));
    const rate = 0.5;
    const l2 = 1e-6;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = 0; i < train.length; i++) {
        const f = trainFeatures[i]!;
        let z = bias;
        for (const [k, v] of f) z += weights[k]! * v;
        const g = 1 / (1 + Math.exp(-z)) - train[i]!.label;
        for (const [k, v] of f) {
          const grad = g * v + l2 * weights[k]!;
          squares[k]! += grad * grad;
          weights[k]! -= (rate * grad) / Math.sqrt(squares[k]!);
        }
        bias -= 0.01 * g;
      }
    }
    const accuracy = (examples: readonly EncodedExample[]) => {
      let correct = 0;
      for (const e of examples) {
        let z = bias;
        for (const [k, v] of features(e.pieces, tokens)) z += weights[k]! * v;
        if ((z > 0 ? 1 : 0) === e.label) correct++;
      }
      return correct / Math.max(1, examples.length);
    };
    return { tokens, devAccuracy: accuracy(dev), testAccuracy: accuracy(test) };
  });
}
