import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SoakSample } from '../../loadtests/report-schema.ts';
import { judgeRss } from '../../loadtests/run-soak.ts';

const series = (mbAt: (minute: number) => number, minutes = 10, every = 0.5): SoakSample[] =>
  Array.from({ length: Math.round(minutes / every) + 1 }, (_, i) => ({
    tS: i * every * 60,
    rssBytes: mbAt(i * every) * 1e6,
    heapUsedBytes: null,
    externalBytes: null,
    gauges: {},
  }));

describe('judgeRss', () => {
  it('calls a series flat when it grows only while warming up', () => {
    const r = judgeRss(series((m) => (m < 3 ? 600 + 30 * m : 690 + (m % 2))));
    assert.equal(r.flat, true);
    assert.ok(Math.abs(r.slopeMbPerMin!) < 0.5);
  });

  it('calls a steady climb growing', () => {
    const r = judgeRss(series((m) => 600 + 5 * m));
    assert.equal(r.flat, false);
    assert.ok(Math.abs(r.slopeMbPerMin! - 5) < 1e-9);
  });

  it('does not judge with too few samples', () => {
    assert.equal(judgeRss(series((m) => 600 + m, 1, 1)).flat, null);
  });
});
