import type { Precision, SubnetConfig, SupernetConfig } from '../model/config.ts';
import { sliceSubnetWeights } from '../model/slice-subnet-weights.ts';
import type { WeightSource } from '../model/weight-checks.ts';
import { buildOnnxGraph } from './build-onnx-graph.ts';

// One subnet of a supernet as a standalone ONNX model file (opset 20, weights inside): inputs `input_ids`,
// `attention_mask` and, for a pair model, `token_type_ids`, int32 [batch, tokens]; output `logits`, float32
// [batch, labels]. `metadata` (e.g. model, version, labels) goes into the model's metadata_props, next to the
// subnet id, precision and form. The graph is the plain form (standard operators only), for any ONNX runtime.
export function exportSubnetOnnx(
  config: SupernetConfig,
  supernetWeights: WeightSource,
  subnet: SubnetConfig,
  metadata: Record<string, string> = {},
  precision: Precision = 'fp32',
): Uint8Array {
  const weights = sliceSubnetWeights(config, supernetWeights, subnet);
  return buildOnnxGraph(config, subnet, weights, metadata, { precision });
}
