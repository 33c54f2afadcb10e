import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CostTable } from '../../serving/cost-table.ts';
import { subnetCost } from '../../src/model/accounting.ts';
import { Rng } from '../../src/model/random.ts';
import { DEFAULT_SHAPE } from '../helpers/random-weights.ts';
import { randomSubnet, TINY } from '../helpers/tiny-model.ts';
import { FIXTURE_ARCH } from './fixture.ts';

describe('CostTable', () => {
  it('equals subnetCost for random subnets, batches and token counts', () => {
    const rng = new Rng(3);
    for (const config of [TINY, FIXTURE_ARCH, DEFAULT_SHAPE]) {
      for (let i = 0; i < 40; i++) {
        const subnet = randomSubnet(config, rng);
        const table = new CostTable(config, subnet);
        for (const batch of [1, 2, 7, 32]) {
          const tokens = 2 + rng.int(config.maxTokens - 1);
          const expected = subnetCost(config, subnet, batch, tokens);
          assert.equal(table.flops(batch, tokens), expected.flops);
          assert.equal(table.memoryBytes(batch, tokens), expected.memoryBytes);
          assert.equal(table.params, expected.params);
        }
      }
    }
  });
});
