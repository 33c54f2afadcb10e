import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CostTable,
  catalogCost,
  countFlops,
  countParams,
  peakActivationBytes,
  subnetCost,
} from '../../../src/model/accounting.ts';
import type { SubnetConfig, SupernetConfig } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { DEFAULT_SHAPE } from '../../helpers/random-weights.ts';
import { randomSubnet, TINY, TINY_PAIR } from '../../helpers/tiny-model.ts';

// The FLOPs and peak activations of one forward pass, counted matmul by matmul and layer by layer: an
// independent count for CostTable's precomputed sums.
function countByLayer(config: SupernetConfig, subnet: SubnetConfig, batch: number, tokens: number) {
  const h = config.hiddenSize;
  const rows = batch * tokens;
  let macs = 0;
  let peak = (config.typeVocabSize === undefined ? 3 : 4) * rows * h;
  for (const l of subnet.layers) {
    const a = l.heads * config.headSize;
    macs += 3 * rows * h * a + 2 * batch * tokens * tokens * a + rows * a * h + 2 * rows * h * l.ffn;
    const attention = rows * h + 4 * rows * a + 2 * batch * l.heads * tokens * tokens;
    peak = Math.max(peak, rows * h + Math.max(attention, rows * h + 2 * rows * l.ffn));
  }
  macs += batch * h * h + batch * h * config.numLabels;
  return { flops: 2 * macs, activationBytes: 4 * peak };
}

// Hand counts on a config small enough to add up on paper.
const C: SupernetConfig = {
  vocabSize: 10,
  hiddenSize: 4,
  maxTokens: 6,
  maxLayers: 2,
  maxHeads: 2,
  headSize: 2,
  maxFfn: 8,
  numLabels: 3,
  layerNormEps: 1e-5,
};
// Layer 1 only, 1 head (attention width 2), FFN 3.
const ONE = { layers: [{ layer: 1, heads: 1, ffn: 3 }] };

describe('accounting', () => {
  it('counts parameters by hand', () => {
    // embeddings 10*4 + 6*4 + 2*4 = 72
    // layer: norms 2*(2*4) = 16; q,k,v 3*(4*2+2) = 30; out 2*4+4 = 12; ffn in 4*3+3 = 15; ffn out 3*4+4 = 16 -> 89
    // final norm 8; pooler 16+4 = 20; classifier 12+3 = 15 -> 43
    assert.equal(countParams(C, ONE), 72 + 89 + 43);
    // full: layer = 16 + 3*(4*4+4) + (4*4+4) + (4*8+8) + (8*4+4) = 16+60+20+40+36 = 172, two of them
    assert.equal(
      countParams(C, {
        layers: [
          { layer: 0, heads: 2, ffn: 8 },
          { layer: 1, heads: 2, ffn: 8 },
        ],
      }),
      72 + 2 * 172 + 43,
    );
  });

  it('counts FLOPs by hand', () => {
    // batch 2, tokens 5: rows 10. qkv 3*10*4*2 = 240; scores+context 2*2*5*5*2 = 200; out 10*2*4 = 80;
    // ffn 2*10*4*3 = 240; pooler 2*4*4 = 32; classifier 2*4*3 = 24. MACs 816, FLOPs 1632.
    assert.equal(countFlops(C, ONE, 2, 5), 1632);
  });

  it('scales FLOPs linearly in batch and at least linearly in tokens', () => {
    const one = countFlops(C, ONE, 1, 5);
    assert.equal(countFlops(C, ONE, 4, 5), 4 * one);
    assert.ok(countFlops(C, ONE, 1, 6) > (6 / 5) * one - 1e-9);
  });

  it('estimates peak activations by hand', () => {
    // batch 2, tokens 5: rows 10, hidden 4. embeddings 3*40 = 120.
    // attention block: 40 + 4*10*2 + 2*2*1*25 = 40 + 80 + 100 = 220; ffn block: 40 + 2*10*3 = 100.
    // peak = max(120, 40 + 220) = 260 floats = 1040 bytes.
    assert.equal(peakActivationBytes(C, ONE, 2, 5), 1040);
  });

  it('adds weights and activations into memoryBytes', () => {
    const cost = subnetCost(C, ONE, 2, 5);
    assert.equal(cost.weightBytes, 204 * 4);
    assert.equal(cost.memoryBytes, cost.weightBytes + cost.activationBytes);
  });

  it('gives the layer-by-layer counts for random subnets, batches and token counts', () => {
    const rng = new Rng(3);
    for (const config of [TINY, TINY_PAIR, DEFAULT_SHAPE]) {
      for (let i = 0; i < 40; i++) {
        const subnet = randomSubnet(config, rng);
        const table = new CostTable(config, subnet);
        for (const batch of [1, 2, 7, 32]) {
          const tokens = 2 + rng.int(config.maxTokens - 1);
          const expected = countByLayer(config, subnet, batch, tokens);
          assert.equal(table.flops(batch, tokens), expected.flops);
          assert.equal(table.activationBytes(batch, tokens), expected.activationBytes);
          assert.equal(table.memoryBytes(batch, tokens), table.weightBytes + expected.activationBytes);
          assert.equal(table.params, countParams(config, subnet));
        }
      }
    }
  });

  it('prices a catalog point at one text of its own token length', () => {
    const cost = catalogCost(C, { subnet: ONE, tokens: 5 });
    assert.deepEqual(cost, {
      params: countParams(C, ONE),
      flops: countFlops(C, ONE, 1, 5),
      referenceTokens: 5,
    });
    assert.notEqual(cost.flops, countFlops(C, ONE, 1, 6));
  });

  it('refuses a subnet wider than the supernet', () => {
    assert.throws(() => countFlops(C, { layers: [{ layer: 0, heads: 3, ffn: 1 }] }, 1, 1), /3 heads/);
  });
});
