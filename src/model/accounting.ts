import {
  assertSubnetFits,
  type CatalogPoint,
  type OperatingPoint,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from './config.ts';
import { isQuantizedWeight } from './quantize.ts';
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

// Bytes of the subnet's weights in a precision: float32 everywhere, or (int8) one byte per value of each quantized
// kernel plus a float32 scale per output channel, the rest float32.
export function countWeightBytes(
  config: SupernetConfig,
  subnet: SubnetConfig,
  precision: Precision = 'fp32',
): number {
  assertSubnetFits(config, subnet);
  let bytes = 0;
  for (const spec of subnetWeightLayout(config, subnet)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    bytes +=
      precision === 'int8' && isQuantizedWeight(spec.name)
        ? size + spec.shape[spec.shape.length - 1]! * FLOAT32_BYTES
        : size * FLOAT32_BYTES;
  }
  return bytes;
}

// Bytes of the token embedding table, float32 [vocab, hidden]: the same for every subnet of a model.
export function tokenTableBytes(config: SupernetConfig): number {
  return config.vocabSize * config.hiddenSize * FLOAT32_BYTES;
}

// The cost model of one subnet in one precision: its parameters, and its FLOPs and memory for any batch and token count,
// precomputed so that a request's cost is a few multiply-adds (serving's selection prices every catalog point for
// every request). countFlops, peakActivationBytes and subnetCost read it.
//
// FLOPs: 2 per multiply-add of every matmul (attention scores and context included); element-wise ops, softmax
// and LayerNorm are O(batch * tokens * hidden) and left out. Memory: the weights plus peak float32 activations
// (an engine-independent estimate, the same for int8, whose uint8 copies of matmul inputs are small beside the
// float32 outputs): the residual stream plus the largest of the embedding step, a layer's
// attention block and its FFN block.
export class CostTable {
  readonly params: number;
  readonly weightBytes: number;
  // flops(batch, tokens) = batch * (tokens * perToken + tokens^2 * perTokenSquared + perText).
  private readonly perToken: number;
  private readonly perTokenSquared: number;
  private readonly perText: number;
  private readonly hidden: number;
  // Activations of the embedding step per row and hidden unit: gathered embeddings (and token types), + positions,
  // normed.
  private readonly embeddingCopies: number;
  // Per layer: attention width (heads * headSize), heads and FFN width.
  private readonly attention: Float64Array;
  private readonly heads: Float64Array;
  private readonly ffn: Float64Array;

  constructor(config: SupernetConfig, subnet: SubnetConfig, precision: Precision = 'fp32') {
    this.params = countParams(config, subnet);
    this.weightBytes = countWeightBytes(config, subnet, precision);
    const h = config.hiddenSize;
    this.hidden = h;
    this.embeddingCopies = config.typeVocabSize === undefined ? 3 : 4;
    this.attention = Float64Array.from(subnet.layers, (l) => l.heads * config.headSize);
    this.heads = Float64Array.from(subnet.layers, (l) => l.heads);
    this.ffn = Float64Array.from(subnet.layers, (l) => l.ffn);
    // Multiply-adds per layer: query, key, value 3*h*a and output a*h per token, FFN in and out 2*h*ffn per
    // token; scores and context 2*a per token pair.
    let perToken = 0;
    let perTokenSquared = 0;
    for (let i = 0; i < this.attention.length; i++) {
      const a = this.attention[i]!;
      perToken += 4 * h * a + 2 * h * this.ffn[i]!;
      perTokenSquared += 2 * a;
    }
    this.perToken = 2 * perToken;
    this.perTokenSquared = 2 * perTokenSquared;
    // Pooler and classifier, once per text.
    this.perText = 2 * (h * h + h * config.numLabels);
  }

  // FLOPs of one forward pass over `batch` texts padded to `tokens` tokens.
  flops(batch: number, tokens: number): number {
    return batch * (tokens * this.perToken + tokens * tokens * this.perTokenSquared + this.perText);
  }

  // Peak bytes of float32 activations during one forward pass over `batch` texts of `tokens` tokens.
  activationBytes(batch: number, tokens: number): number {
    const rows = batch * tokens;
    const residual = rows * this.hidden;
    let peak = this.embeddingCopies * residual;
    for (let i = 0; i < this.attention.length; i++) {
      // normed, q k v context, scores probs
      const attentionBlock =
        residual + 4 * rows * this.attention[i]! + 2 * batch * this.heads[i]! * tokens * tokens;
      const ffnBlock = residual + 2 * rows * this.ffn[i]!; // normed, inner before and after GELU
      const layerPeak = residual + Math.max(attentionBlock, ffnBlock);
      if (layerPeak > peak) peak = layerPeak;
    }
    return peak * FLOAT32_BYTES;
  }

  // Weights plus peak activations for `batch` texts of `tokens` tokens: what a memory budget is compared with.
  memoryBytes(batch: number, tokens: number): number {
    return this.weightBytes + this.activationBytes(batch, tokens);
  }
}

// FLOPs of one forward pass (CostTable).
export function countFlops(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): number {
  return new CostTable(config, subnet).flops(batch, tokens);
}

// Peak bytes of float32 activations during one forward pass (CostTable).
export function peakActivationBytes(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): number {
  return new CostTable(config, subnet).activationBytes(batch, tokens);
}

// Parameters, FLOPs and memory of one subnet for one request.
export function subnetCost(
  config: SupernetConfig,
  subnet: SubnetConfig,
  batch: number,
  tokens: number,
): SubnetCost {
  const table = new CostTable(config, subnet);
  const activationBytes = table.activationBytes(batch, tokens);
  return {
    params: table.params,
    flops: table.flops(batch, tokens),
    weightBytes: table.weightBytes,
    activationBytes,
    memoryBytes: table.weightBytes + activationBytes,
  };
}

// What the catalog records of an operating point's cost: its parameters, and the FLOPs of one text read to the
// point's own token length (its reference length).
export function catalogCost(
  config: SupernetConfig,
  point: OperatingPoint,
): Pick<CatalogPoint, 'params' | 'flops' | 'referenceTokens'> {
  const table = new CostTable(config, point.subnet);
  return { params: table.params, flops: table.flops(1, point.tokens), referenceTokens: point.tokens };
}
