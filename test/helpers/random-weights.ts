import type { SupernetConfig } from '../../src/model/config.ts';
import { Rng } from '../../src/model/random.ts';
import { supernetWeightLayout } from '../../src/model/weight-layout.ts';
import type { WeightTensor } from '../../src/model/weights.ts';

// Supernet weights whose logits are of order 1 (BERT's 0.02 init gives ~1e-3, too small for a 1e-4 equality
// test to mean anything): kernels ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norms and biases perturbed.
export function randomSupernetWeights(config: SupernetConfig, seed: number): WeightTensor[] {
  const rng = new Rng(seed);
  return supernetWeightLayout(config).map((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const scale =
      spec.shape.length === 2
        ? spec.name.startsWith('embeddings.')
          ? 1
          : 1 / Math.sqrt(spec.shape[0]!)
        : 0.1;
    const offset = spec.init === 'ones' ? 1 : 0;
    for (let i = 0; i < size; i++) data[i] = offset + rng.normal() * scale;
    return { name: spec.name, shape: spec.shape, data };
  });
}

// The default serving shape: 4 layers, hidden 256, 4 heads of 64, FFN 1024, the BERT vocabulary, 512 tokens.
export const DEFAULT_SHAPE: SupernetConfig = {
  vocabSize: 30522,
  hiddenSize: 256,
  maxTokens: 512,
  maxLayers: 4,
  maxHeads: 4,
  headSize: 64,
  maxFfn: 1024,
  numLabels: 2,
  layerNormEps: 1e-5,
};
