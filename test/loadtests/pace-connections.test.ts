import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pacing } from '../../loadtests/pace-connections.ts';

describe('pacing', () => {
  it('spaces the connections evenly over one period, so that arrivals come every 1/rps', () => {
    const { periodMs, phaseMs } = pacing(400, 256);
    assert.equal(periodMs, 640);
    const phases = Array.from({ length: 256 }, (_, i) => phaseMs(i));
    for (let i = 1; i < phases.length; i++) assert.ok(Math.abs(phases[i]! - phases[i - 1]! - 2.5) < 1e-9);
    assert.equal(phaseMs(256), 0);
  });

  it('gives one request per second per connection when there are as many connections as requests per second', () => {
    assert.equal(pacing(50, 50).periodMs, 1000);
  });
});
