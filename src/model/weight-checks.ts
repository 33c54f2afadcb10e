import { ModelError } from '../errors.ts';
import type { WeightSpec } from './weight-layout.ts';
import type { WeightTensor } from './weights.ts';

// Weights by name, or a list of them.
export type WeightSource = ReadonlyMap<string, WeightTensor> | Iterable<WeightTensor>;

// Checks weights against a layout: every name present with its shape and data length, nothing extra.
export function checkWeights(
  layout: WeightSpec[],
  source: WeightSource,
  what: string,
): Map<string, WeightTensor> {
  const byName = new Map<string, WeightTensor>();
  const entries = source instanceof Map ? source.values() : (source as Iterable<WeightTensor>);
  for (const w of entries) {
    if (byName.has(w.name))
      throw new ModelError('UNEXPECTED_WEIGHT', `${what}: weight '${w.name}' given twice`);
    byName.set(w.name, w);
  }
  for (const spec of layout) {
    const w = byName.get(spec.name);
    if (!w) throw new ModelError('MISSING_WEIGHT', `${what}: weight '${spec.name}' is missing`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (
      w.shape.length !== spec.shape.length ||
      w.shape.some((d, i) => d !== spec.shape[i]) ||
      w.data.length !== size
    ) {
      throw new ModelError(
        'WEIGHT_SHAPE_MISMATCH',
        `${what}: weight '${spec.name}' has shape [${w.shape}] (${w.data.length} values), expected [${spec.shape}]`,
      );
    }
  }
  if (byName.size !== layout.length) {
    const known = new Set(layout.map((s) => s.name));
    const extra = [...byName.keys()].find((name) => !known.has(name));
    throw new ModelError('UNEXPECTED_WEIGHT', `${what}: unexpected weight '${extra}'`);
  }
  return byName;
}

// The weight of that name in a source, or undefined.
export function findWeight(source: WeightSource, name: string): WeightTensor | undefined {
  if (source instanceof Map) return source.get(name);
  for (const w of source as Iterable<WeightTensor>) if (w.name === name) return w;
  return undefined;
}
