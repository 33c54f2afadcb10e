import type { WeightSource } from './weight-checks.ts';
import type { WeightTensor } from './weights.ts';

// The largest magnitude of a symmetric int8 value: -127..127 (never -128, so that negation is exact).
export const INT8_MAX = 127;

// A 2-D kernel [in, out] quantized per output channel: value[i, j] * scale[j] approximates kernel[i, j].
export interface QuantizedKernel {
  name: string;
  shape: [number, number];
  values: Int8Array; // [in, out], row-major as the kernel
  scales: Float32Array; // [out]
}

// The weights an int8 subnet stores as int8: the six matmul kernels of every encoder layer. Embeddings, LayerNorm,
// biases, the pooler and the classifier stay float32 (they are small, or gathered rather than multiplied).
export function isQuantizedWeight(name: string): boolean {
  return /^layers\.\d+\.(attention\.(query|key|value|output)|ffn\.(input|output))\.kernel$/.test(name);
}

// Symmetric per-output-channel quantization of a kernel [in, out]: scale[j] = max_i |kernel[i, j]| / 127, and
// value = round(kernel / scale). A column of zeros gets scale 0 and values 0. Each element is then within
// scale[j] / 2 of its column's dequantized value.
export function quantizeKernel(kernel: WeightTensor): QuantizedKernel {
  const [rows, cols] = kernel.shape;
  if (kernel.shape.length !== 2 || rows === undefined || cols === undefined) {
    throw new RangeError(`quantizeKernel: ${kernel.name} is not 2-D (shape [${kernel.shape.join(', ')}])`);
  }
  const data = kernel.data;
  const scales = new Float32Array(cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(data[row + j]!);
      if (a > scales[j]!) scales[j] = a;
    }
  }
  const inverse = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    scales[j] = scales[j]! / INT8_MAX;
    inverse[j] = scales[j]! > 0 ? 1 / scales[j]! : 0;
  }
  const values = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) {
      const q = Math.round(data[row + j]! * inverse[j]!);
      values[row + j] = q > INT8_MAX ? INT8_MAX : q < -INT8_MAX ? -INT8_MAX : q;
    }
  }
  return { name: kernel.name, shape: [rows, cols], values, scales };
}

// The float32 kernel a quantized one stands for.
export function dequantizeKernel(q: QuantizedKernel): WeightTensor {
  const [rows, cols] = q.shape;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) data[row + j] = q.values[row + j]! * q.scales[j]!;
  }
  return { name: q.name, shape: [rows, cols], data };
}

// A subnet's weights as an int8 subnet computes with them: its quantized kernels replaced by their dequantized
// values, everything else as is. Engines without int8 kernels (tfjs) run these to simulate an int8 point.
export function fakeQuantizeWeights(weights: WeightSource): WeightTensor[] {
  const list = weights instanceof Map ? [...weights.values()] : [...(weights as Iterable<WeightTensor>)];
  return list.map((w) => (isQuantizedWeight(w.name) ? dequantizeKernel(quantizeKernel(w)) : w));
}
