import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dequantizeKernel,
  fakeQuantizeWeights,
  INT8_MAX,
  isQuantizedWeight,
  quantizeKernel,
} from '../../../src/model/quantize.ts';
import { Rng } from '../../../src/model/random.ts';
import type { WeightTensor } from '../../../src/model/weights.ts';

// A kernel [rows, cols] whose columns have very different ranges (as trained kernels do), one column all zeros.
function kernel(rows: number, cols: number, seed: number): WeightTensor {
  const rng = new Rng(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 1; j < cols; j++) data[i * cols + j] = (rng.next() * 2 - 1) * 10 ** ((j % 4) - 2);
  }
  return { name: 'layers.0.ffn.input.kernel', shape: [rows, cols], data };
}

describe('int8 quantization', () => {
  it('round-trips each value within half its output channel scale, with symmetric values in -127..127', () => {
    for (const [rows, cols, seed] of [
      [7, 5, 1],
      [64, 48, 2],
      [128, 3, 3],
    ] as const) {
      const w = kernel(rows, cols, seed);
      const q = quantizeKernel(w);
      assert.equal(q.scales.length, cols);
      assert.ok(q.values.every((v) => v >= -INT8_MAX && v <= INT8_MAX));
      const back = dequantizeKernel(q);
      assert.deepEqual(back.shape, [rows, cols]);
      for (let j = 0; j < cols; j++) {
        let max = 0;
        for (let i = 0; i < rows; i++) max = Math.max(max, Math.abs(w.data[i * cols + j]!));
        // The scale is the column's own range over 127: a per-tensor scale would fail this on small columns.
        assert.ok(Math.abs(q.scales[j]! - max / INT8_MAX) <= 1e-6 * max, `scale of column ${j}`);
        for (let i = 0; i < rows; i++) {
          const error = Math.abs(back.data[i * cols + j]! - w.data[i * cols + j]!);
          assert.ok(
            error <= q.scales[j]! / 2 + 1e-7 * max,
            `[${i}, ${j}] off by ${error}, scale ${q.scales[j]}`,
          );
        }
      }
    }
  });

  it('gives a column of zeros scale 0 and values 0, and uses the full range on every other column', () => {
    const q = quantizeKernel(kernel(16, 4, 5));
    assert.equal(q.scales[0], 0);
    for (let i = 0; i < 16; i++) assert.equal(q.values[i * 4], 0);
    for (let j = 1; j < 4; j++) {
      let peak = 0;
      for (let i = 0; i < 16; i++) peak = Math.max(peak, Math.abs(q.values[i * 4 + j]!));
      assert.equal(peak, INT8_MAX);
    }
  });

  it('quantizes exactly the encoder layers six matmul kernels', () => {
    const quantized = [
      'layers.0.attention.query.kernel',
      'layers.3.attention.key.kernel',
      'layers.1.attention.value.kernel',
      'layers.0.attention.output.kernel',
      'layers.12.ffn.input.kernel',
      'layers.2.ffn.output.kernel',
    ];
    const kept = [
      'layers.0.attention.query.bias',
      'layers.0.attention.norm.gamma',
      'embeddings.token',
      'pooler.kernel',
      'classifier.kernel',
    ];
    for (const name of quantized) assert.ok(isQuantizedWeight(name), name);
    for (const name of kept) assert.ok(!isQuantizedWeight(name), name);
    const bias: WeightTensor = {
      name: 'layers.0.ffn.input.bias',
      shape: [3],
      data: Float32Array.of(0.1234567, 2, 3),
    };
    const [faked, same] = fakeQuantizeWeights([kernel(8, 3, 9), bias]);
    assert.equal(same, bias);
    assert.notDeepEqual(faked!.data, kernel(8, 3, 9).data);
  });

  it('refuses a kernel that is not 2-D', () => {
    assert.throws(() => quantizeKernel({ name: 'x', shape: [4], data: new Float32Array(4) }), /not 2-D/);
  });
});
