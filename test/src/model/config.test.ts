import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelError } from '../../../src/errors.ts';
import {
  assertSubnetFits,
  formatOperatingPointId,
  formatSubnetId,
  largestSubnet,
  parseOperatingPointId,
  parseSubnetId,
  parseSupernetConfig,
} from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { randomSubnet, TINY } from '../../helpers/tiny-model.ts';

describe('subnet ids', () => {
  it('formats a short canonical id', () => {
    const id = formatSubnetId({
      layers: [
        { layer: 0, heads: 4, ffn: 1024 },
        { layer: 2, heads: 2, ffn: 512 },
      ],
    });
    assert.equal(id, '0h4f1024.2h2f512');
  });

  it('round-trips parse(format(c)) over random subnets', () => {
    const rng = new Rng(7);
    const big = { ...TINY, maxLayers: 12, maxHeads: 16, maxFfn: 4096 };
    for (let i = 0; i < 500; i++) {
      const subnet = randomSubnet(big, rng);
      assert.deepEqual(parseSubnetId(formatSubnetId(subnet)), subnet);
      const point = { subnet, tokens: 2 + rng.int(510) };
      assert.deepEqual(parseOperatingPointId(formatOperatingPointId(point)), point);
      const int8 = { ...point, precision: 'int8' as const };
      assert.deepEqual(parseOperatingPointId(formatOperatingPointId(int8)), int8);
    }
  });

  it('names an int8 point with a -int8 suffix, an fp32 one as before', () => {
    const subnet = { layers: [{ layer: 0, heads: 4, ffn: 1024 }] };
    assert.equal(formatOperatingPointId({ subnet, tokens: 64 }), '0h4f1024-t64');
    assert.equal(formatOperatingPointId({ subnet, tokens: 64, precision: 'fp32' }), '0h4f1024-t64');
    assert.equal(formatOperatingPointId({ subnet, tokens: 64, precision: 'int8' }), '0h4f1024-t64-int8');
    assert.deepEqual(parseOperatingPointId('0h4f1024-t64-int8'), { subnet, tokens: 64, precision: 'int8' });
    for (const bad of [
      '0h4f1024-t64-int4',
      '0h4f1024-t64-int8-int8',
      '0h4f1024-int8-t64',
      '0h4f1024-t64-fp32',
    ]) {
      assert.throws(
        () => parseOperatingPointId(bad),
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_SUBNET_ID',
        bad,
      );
    }
  });

  for (const bad of [
    '',
    '0h4',
    '0h4f',
    'xh4f8',
    '1h4f8.0h4f8',
    '0h4f8.0h4f8',
    '0h0f8',
    '0h4f0',
    '00h4f8',
    '0h4f8.',
    ' 0h4f8',
  ]) {
    it(`refuses '${bad}' with INVALID_SUBNET_ID`, () => {
      assert.throws(
        () => parseSubnetId(bad),
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_SUBNET_ID',
      );
    });
  }

  it('refuses operating point ids without a valid token count', () => {
    for (const bad of ['0h4f8', '0h4f8-t', '0h4f8-t1', '0h4f8-t064', '-t64']) {
      assert.throws(
        () => parseOperatingPointId(bad),
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_SUBNET_ID',
      );
    }
  });
});

describe('subnet bounds', () => {
  it('accepts the largest subnet', () => {
    assertSubnetFits(TINY, largestSubnet(TINY));
  });

  it('names the layer, the width asked for and the maximum when a subnet is wider than the supernet', () => {
    assert.throws(
      () => assertSubnetFits(TINY, { layers: [{ layer: 0, heads: 5, ffn: 8 }] }),
      (e: unknown) =>
        e instanceof ModelError && e.code === 'SUBNET_OUT_OF_RANGE' && /5 heads.*has 4/.test(e.message),
    );
    assert.throws(
      () => assertSubnetFits(TINY, { layers: [{ layer: 0, heads: 1, ffn: 25 }] }),
      (e: unknown) => e instanceof ModelError && /FFN width 25.*24/.test(e.message),
    );
    assert.throws(
      () => assertSubnetFits(TINY, { layers: [{ layer: 3, heads: 1, ffn: 1 }] }),
      (e: unknown) => e instanceof ModelError && /layer 3 does not exist/.test(e.message),
    );
  });

  it('validates supernet configs with a message naming the field', () => {
    assert.throws(
      () => parseSupernetConfig({ ...TINY, hiddenSize: -1 }),
      (e: unknown) =>
        e instanceof ModelError && e.code === 'INVALID_SUPERNET_CONFIG' && /hiddenSize/.test(e.message),
    );
    assert.throws(() => parseSupernetConfig({ ...TINY, extra: 1 }), ModelError);
    assert.deepEqual(parseSupernetConfig(TINY), TINY);
  });
});
