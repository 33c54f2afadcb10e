import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareTwins, twinOf } from '../../../serving/page/client/compare-twins.ts';

const MIB = 2 ** 20;

// A catalog point's figures that compareTwins reads.
function point(precision: 'fp32' | 'int8', memoryMiB: number, latencyMs: number, devAccuracy: number) {
  return {
    id: precision === 'int8' ? '0h1f128-t128-int8' : '0h1f128-t128',
    memoryBytes: memoryMiB * MIB,
    calibratedLatencyMs: latencyMs,
    devAccuracy,
    config: { precision },
  };
}

describe('compareTwins', () => {
  it('says what an int8 point saves against its fp32 twin, either way round', () => {
    assert.equal(
      compareTwins(point('int8', 15.46, 0.541, 0.8539), point('fp32', 15.6, 0.571, 0.8535)),
      'against its fp32 twin: 0.14 MiB less memory, 5% faster, dev accuracy +0.04 points',
    );
    assert.equal(
      compareTwins(point('int8', 15.4, 1.114, 0.9147), point('fp32', 15.63, 1.102, 0.9147)),
      'against its fp32 twin: 0.23 MiB less memory, 1% slower, the same dev accuracy',
    );
    assert.equal(
      compareTwins(point('int8', 16, 1, 0.87), point('fp32', 15.5, 1.001, 0.875)),
      'against its fp32 twin: 0.50 MiB more memory, as fast, dev accuracy −0.50 points',
    );
  });

  it("finds an int8 point's fp32 twin by id, and none for an fp32 point or an int8 point without one", () => {
    const fp32 = point('fp32', 15.6, 0.571, 0.8535);
    const int8 = point('int8', 15.46, 0.541, 0.8539);
    const lone = { ...point('int8', 15.2, 0.5, 0.85), id: '0h2f128-t32-int8' };
    const byId = new Map([fp32, int8, lone].map((p) => [p.id, p]));
    assert.equal(twinOf(int8, byId), fp32);
    assert.equal(twinOf(fp32, byId), undefined);
    assert.equal(twinOf(lone, byId), undefined);
  });
});
