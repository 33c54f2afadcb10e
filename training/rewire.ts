import type { SupernetConfig } from '../src/model/config.ts';
import { layerWeightName } from '../src/model/weight-layout.ts';
import type { WeightTensor } from '../src/model/weights.ts';

// Per layer, the importance of each head and each FFN neuron (higher is more important).
export interface Importance {
  heads: Float32Array[];
  neurons: Float32Array[];
}

// Unit indices sorted by descending importance (ties keep their order): the new order of the units.
export function importanceOrder(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

// DynaBERT's rewiring: permutes every layer's heads and FFN neurons so that the most important come first,
// so that every narrower subnet (a prefix) keeps the best units. The full model computes the same function.
export function rewireWeights(
  config: SupernetConfig,
  weights: WeightTensor[],
  importance: Importance,
): WeightTensor[] {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const out = new Map(byName);
  const d = config.headSize;
  for (let layer = 0; layer < config.maxLayers; layer++) {
    const headOrder = importanceOrder(importance.heads[layer]!);
    const neuronOrder = importanceOrder(importance.neurons[layer]!);
    // Head h owns columns [h*d, (h+1)*d) of Q, K, V and the same rows of the attention output.
    const columnOrder = headOrder.flatMap((h) => Array.from({ length: d }, (_, j) => h * d + j));
    const get = (part: Parameters<typeof layerWeightName>[1]) => byName.get(layerWeightName(layer, part))!;
    const set = (w: WeightTensor) => out.set(w.name, w);
    for (const part of ['attention.query', 'attention.key', 'attention.value'] as const) {
      set(permuteColumns(get(`${part}.kernel`), columnOrder));
      set(permuteVector(get(`${part}.bias`), columnOrder));
    }
    set(permuteRows(get('attention.output.kernel'), columnOrder));
    set(permuteColumns(get('ffn.input.kernel'), neuronOrder));
    set(permuteVector(get('ffn.input.bias'), neuronOrder));
    set(permuteRows(get('ffn.output.kernel'), neuronOrder));
  }
  return weights.map((w) => out.get(w.name)!);
}

function permuteColumns(w: WeightTensor, order: number[]): WeightTensor {
  const [rows, cols] = w.shape as [number, number];
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) data[r * cols + c] = w.data[r * cols + order[c]!]!;
  return { ...w, data };
}

function permuteRows(w: WeightTensor, order: number[]): WeightTensor {
  const cols = w.shape[1]!;
  const data = new Float32Array(w.data.length);
  for (const [to, from] of order.entries())
    data.set(w.data.subarray(from * cols, (from + 1) * cols), to * cols);
  return { ...w, data };
}

function permuteVector(w: WeightTensor, order: number[]): WeightTensor {
  return { ...w, data: Float32Array.from(order, (i) => w.data[i]!) };
}
