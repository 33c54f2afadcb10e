import type { SupernetConfig } from '../src/model/config.ts';
import { supernetWeightLayout, type WeightSpec } from '../src/model/weight-layout.ts';
import type { WeightTensor } from '../src/model/weights.ts';

// Every supernet weight in one flat Float32Array, in layout order: what workers share, the optimizer updates
// and checkpoints store.
export class FlatLayout {
  readonly specs: WeightSpec[];
  readonly offsets: number[];
  readonly sizes: number[];
  readonly total: number;

  constructor(config: SupernetConfig) {
    this.specs = supernetWeightLayout(config);
    this.offsets = [];
    this.sizes = [];
    let offset = 0;
    for (const spec of this.specs) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      this.offsets.push(offset);
      this.sizes.push(size);
      offset += size;
    }
    this.total = offset;
  }

  // The i-th weight's values inside a flat buffer (a view, not a copy).
  view(buffer: Float32Array, i: number): Float32Array {
    return buffer.subarray(this.offsets[i]!, this.offsets[i]! + this.sizes[i]!);
  }

  // Named views over a flat buffer.
  toWeights(buffer: Float32Array): WeightTensor[] {
    return this.specs.map((spec, i) => ({ name: spec.name, shape: spec.shape, data: this.view(buffer, i) }));
  }

  // Copies named weights into a flat buffer (every weight of the layout must be present).
  fill(buffer: Float32Array, weights: Iterable<WeightTensor>): void {
    const byName = new Map([...weights].map((w) => [w.name, w]));
    this.specs.forEach((spec, i) => {
      const w = byName.get(spec.name);
      if (!w || w.data.length !== this.sizes[i])
        throw new Error(`weight ${spec.name} missing or of the wrong size`);
      buffer.set(w.data, this.offsets[i]!);
    });
  }

  // Whether weight decay applies: kernels and embeddings, not biases or LayerNorm parameters.
  decays(i: number): boolean {
    const name = this.specs[i]!.name;
    return (
      name.endsWith('.kernel') ||
      name.startsWith('embeddings.token') ||
      name.startsWith('embeddings.position')
    );
  }
}

// A flat Float32Array backed by shared memory, so worker threads see it without copies.
export function sharedFloats(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}
