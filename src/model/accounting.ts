import { assertSubnetFits, type SubnetConfig, type SupernetConfig } from './config.ts';
import { subnetWeightLayout } from './weight-layout.ts';

const FLOAT32_BYTES = 4;

// What one subnet costs for one request of `batch` texts of `tokens` tokens.
export interface SubnetCost {
  params: number;
  flops: number;
  weightBytes: number;
  activationBytes: number;
  // Weights plus peak activations: what a memory budget is compared with.
  memoryBytes: number;
}

// Parameters the subnet uses: whole embedding tables (token types too, on a pair model), its layers' slices,
// final norm, pooler and classifier.
export function countParams(config: SupernetConfig, subnet: SubnetConfig): number {
  assertSubnetFits(config, subnet);
  return subnetWeightLayout(config, subnet).reduce(
    (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1),
    0,
  );
}

// Floating-point operations of one forward pass: 2 per multiply-add of every matmul (attention scores and
// context included); element-wise ops, softmax and LayerNorm are O(batch * tokens * hidden) and left out.
export function countFlops(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): number {
  assertSubnetFits(config, subnet);
  const h = config.hiddenSize;
  const rows = batch * tokens;
  let macs = 0;
  for (const l of subnet.layers) {
    const a = l.heads * config.headSize;
    macs += 3 * rows * h * a; // query, key, value
    macs += 2 * batch * tokens * tokens * a; // scores and context, summed over heads
    macs += rows * a * h; // attention output
    macs += 2 * rows * h * l.ffn; // FFN in and out
  }
  macs += batch * h * h + batch * h * config.numLabels; // pooler and classifier
  return 2 * macs;
}

// Peak bytes of float32 activations during one forward pass (an engine-independent estimate): the residual
// stream plus the largest of the embedding step, a layer's attention block and its FFN block.
export function peakActivationBytes(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): number {
  assertSubnetFits(config, subnet);
  const rows = batch * tokens;
  const h = config.hiddenSize;
  // Gathered embeddings (and token types), + positions, normed.
  let peak = (config.typeVocabSize === undefined ? 3 : 4) * rows * h;
  for (const l of subnet.layers) {
    const a = l.heads * config.headSize;
    const attentionBlock = rows * h + 4 * rows * a + 2 * batch * l.heads * tokens * tokens; // normed, q k v context, scores probs
    const ffnBlock = rows * h + 2 * rows * l.ffn; // normed, inner before and after GELU
    peak = Math.max(peak, rows * h + Math.max(attentionBlock, ffnBlock));
  }
  return peak * FLOAT32_BYTES;
}

// Parameters, FLOPs and memory of one subnet for one request.
export function subnetCost(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): SubnetCost {
  const params = countParams(config, subnet);
  const weightBytes = params * FLOAT32_BYTES;
  const activationBytes = peakActivationBytes(config, subnet, batch, tokens);
  return {
    params,
    flops: countFlops(config, subnet, batch, tokens),
    weightBytes,
    activationBytes,
    memoryBytes: weightBytes + activationBytes,
  };
}
