import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatOperatingPointId, type OperatingPoint, type Precision } from '../../src/model/config.ts';
import { catalogFront, precisionFronts, type SearchPoint } from '../../training/search.ts';

// Points of one-layer subnets read to `tokens` tokens, FLOPs growing with the token count.
function scored(tokens: number, accuracy: number, precision: Precision): SearchPoint {
  const point: OperatingPoint = {
    subnet: { layers: [{ layer: 0, heads: 1, ffn: 8 }] },
    tokens,
    ...(precision === 'int8' && { precision }),
  };
  return {
    ...point,
    id: formatOperatingPointId(point),
    params: 1000,
    flops: tokens * 1000,
    referenceTokens: tokens,
    devAccuracy: accuracy,
  };
}

describe('the catalog front over precisions', () => {
  // Each int8 point is a little less accurate than its fp32 twin at the same FLOPs.
  const fp32 = [
    scored(64, 0.85, 'fp32'),
    scored(128, 0.87, 'fp32'),
    scored(192, 0.86, 'fp32'),
    scored(256, 0.88, 'fp32'),
  ];
  const int8 = [
    scored(64, 0.848, 'int8'),
    scored(128, 0.866, 'int8'),
    scored(192, 0.87, 'int8'),
    scored(256, 0.877, 'int8'),
  ];

  it('keeps int8 points on their own front, which one front over both precisions would drop', () => {
    // Dominated by their fp32 twins (or, at 192 tokens, by a cheaper fp32 point), none survives one front.
    assert.ok(catalogFront([...fp32, ...int8], 0).every((p) => p.precision === undefined));
    const chosen = precisionFronts([...fp32, ...int8], 0, 16);
    assert.deepEqual(
      chosen.map((p) => p.id),
      [
        '0h1f8-t64',
        '0h1f8-t64-int8',
        '0h1f8-t128',
        '0h1f8-t128-int8',
        '0h1f8-t192-int8',
        '0h1f8-t256',
        '0h1f8-t256-int8',
      ],
    );
  });

  it('applies the accuracy floor and the catalog size to each precision', () => {
    const chosen = precisionFronts([...fp32, ...int8], 0.86, 2);
    assert.deepEqual(
      chosen.map((p) => p.id),
      ['0h1f8-t128', '0h1f8-t128-int8', '0h1f8-t256', '0h1f8-t256-int8'],
    );
  });

  it('is the plain catalog front when every point is fp32', () => {
    assert.deepEqual(precisionFronts(fp32, 0, 16), catalogFront(fp32, 0));
  });
});
