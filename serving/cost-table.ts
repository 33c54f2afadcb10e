import { countParams } from '../src/model/accounting.ts';
import type { SubnetConfig, SupernetConfig } from '../src/model/config.ts';

const FLOAT32_BYTES = 4;

// subnetCost's FLOPs and memory for one subnet, precomputed so that a request's cost is a few multiply-adds
// (selection runs it for every catalog point of every request). Equal to subnetCost (tested).
export class CostTable {
  readonly params: number;
  readonly weightBytes: number;
  // flops(batch, tokens) = batch * (tokens * perToken + tokens^2 * perTokenSquared + perText).
  private readonly perToken: number;
  private readonly perTokenSquared: number;
  private readonly perText: number;
  private readonly hidden: number;
  private readonly attention: Float64Array;
  private readonly heads: Float64Array;
  private readonly ffn: Float64Array;

  constructor(config: SupernetConfig, subnet: SubnetConfig) {
    this.params = countParams(config, subnet);
    this.weightBytes = this.params * FLOAT32_BYTES;
    const h = config.hiddenSize;
    this.hidden = h;
    this.attention = Float64Array.from(subnet.layers, (l) => l.heads * config.headSize);
    this.heads = Float64Array.from(subnet.layers, (l) => l.heads);
    this.ffn = Float64Array.from(subnet.layers, (l) => l.ffn);
    let perToken = 0;
    let perTokenSquared = 0;
    for (let i = 0; i < this.attention.length; i++) {
      const a = this.attention[i]!;
      perToken += 4 * h * a + 2 * h * this.ffn[i]!;
      perTokenSquared += 2 * a;
    }
    this.perToken = 2 * perToken;
    this.perTokenSquared = 2 * perTokenSquared;
    this.perText = 2 * (h * h + h * config.numLabels);
  }

  // FLOPs of one forward pass over `batch` texts padded to `tokens` tokens.
  flops(batch: number, tokens: number): number {
    return batch * (tokens * this.perToken + tokens * tokens * this.perTokenSquared + this.perText);
  }

  // Weights plus peak float32 activations (accounting.ts's estimate) for `batch` texts of `tokens` tokens.
  memoryBytes(batch: number, tokens: number): number {
    const rows = batch * tokens;
    const residual = rows * this.hidden;
    let peak = 3 * residual;
    for (let i = 0; i < this.attention.length; i++) {
      const attentionBlock =
        residual + 4 * rows * this.attention[i]! + 2 * batch * this.heads[i]! * tokens * tokens;
      const ffnBlock = residual + 2 * rows * this.ffn[i]!;
      const layerPeak = residual + Math.max(attentionBlock, ffnBlock);
      if (layerPeak > peak) peak = layerPeak;
    }
    return this.weightBytes + peak * FLOAT32_BYTES;
  }
}
