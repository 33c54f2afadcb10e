import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Registry } from 'prom-client';
import { parsePrometheusText } from '../../../serving/page/client/prometheus-text.ts';

describe('parsePrometheusText (the page reads /metrics with it)', () => {
  it('reads what prom-client writes, escaped label values included', async () => {
    const registry = new Registry();
    const requests = new Counter({
      name: 'serving_requests_total',
      help: 'Requests',
      labelNames: ['route', 'subnet'],
      registers: [registry],
    });
    requests.inc({ route: '/v1/models/:model/predict', subnet: '0h1f128-t128' }, 3);
    requests.inc({ route: 'a "quoted"\\ path\nnext', subnet: 'none' });
    new Gauge({ name: 'serving_engine_utilization', help: 'Busy share', registers: [registry] }).set(0.25);
    const samples = parsePrometheusText(await registry.metrics());
    assert.deepEqual(samples, [
      {
        name: 'serving_requests_total',
        labels: { route: '/v1/models/:model/predict', subnet: '0h1f128-t128' },
        value: 3,
      },
      {
        name: 'serving_requests_total',
        labels: { route: 'a "quoted"\\ path\nnext', subnet: 'none' },
        value: 1,
      },
      { name: 'serving_engine_utilization', labels: {}, value: 0.25 },
    ]);
  });

  it('reads special values and timestamps, and skips comments and lines that do not parse', () => {
    const samples = parsePrometheusText(
      [
        '# HELP x Something',
        '# TYPE x gauge',
        'x NaN',
        'x{le="+Inf"} +Inf 1700000000000',
        'y -Inf',
        'z 1.5e3',
        'broken{le="1} 2',
        'no_value',
        '{} 3',
        '',
      ].join('\n'),
    );
    assert.equal(samples.length, 4);
    assert.ok(Number.isNaN(samples[0]!.value));
    assert.deepEqual(samples.slice(1), [
      { name: 'x', labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY },
      { name: 'y', labels: {}, value: Number.NEGATIVE_INFINITY },
      { name: 'z', labels: {}, value: 1500 },
    ]);
  });
});
