import type { SubnetConfig, SupernetConfig } from './config.ts';
import { assertSubnetFits } from './config.ts';
import { checkWeights, type WeightSource } from './weight-checks.ts';
import { subnetWeightLayout, supernetWeightLayout, supernetWeightName } from './weight-layout.ts';
import type { WeightTensor } from './weights.ts';

// One subnet's weights out of the supernet's, on the host (no tfjs): each tensor's leading prefix, with the
// subnet's k-th layer renamed `layers.{k}`. What an engine (ONNX export) or a materialized subnet loads. A prefix
// that is contiguous in the supernet's tensor (a whole row block: the token table, a bias, a norm) is a view of
// the supernet's memory, not a copy: read-only, shared by every subnet sliced from the same weights.
export function sliceSubnetWeights(
  config: SupernetConfig,
  source: WeightSource,
  subnet: SubnetConfig,
): WeightTensor[] {
  assertSubnetFits(config, subnet);
  const full = checkWeights(supernetWeightLayout(config), source, 'supernet');
  return subnetWeightLayout(config, subnet).map((spec) => {
    const from = full.get(supernetWeightName(subnet, spec.name))!;
    return { name: spec.name, shape: spec.shape, data: prefixSlice(from, spec.shape) };
  });
}

// The leading [rows, cols] (or [n]) block of a row-major 1-D or 2-D tensor.
function prefixSlice(from: WeightTensor, shape: number[]): Float32Array {
  if (shape.length === 1) return from.data.subarray(0, shape[0]);
  const [rows, cols] = shape as [number, number];
  const stride = from.shape[1]!;
  if (stride === cols) return from.data.subarray(0, rows * cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(from.data.subarray(r * stride, r * stride + cols), r * cols);
  return out;
}
