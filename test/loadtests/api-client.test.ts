import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  batchCounters,
  parsePredictAnswer,
  parsePrometheusText,
  parseServerTiming,
} from '../../loadtests/api-client.ts';

describe('api-client parsers', () => {
  it('reads Server-Timing durations', () => {
    assert.deepEqual(parseServerTiming('queue;dur=0.125, inference;dur=2.3, total;dur=2.9'), {
      queue: 0.125,
      inference: 2.3,
      total: 2.9,
    });
    assert.deepEqual(parseServerTiming(undefined), {});
  });

  it('reads the operating point of a predict answer and refuses other bodies', () => {
    const body = JSON.stringify({
      subnet: { id: '0h1f128-t32', accuracy: 0.74, memoryBytes: 16e6, flops: 1 },
      budget: { met: false, latencyMs: 2 },
      outputs: [],
    });
    assert.deepEqual(parsePredictAnswer(body), {
      subnet: '0h1f128-t32',
      accuracy: 0.74,
      memoryBytes: 16e6,
      met: false,
    });
    assert.equal(parsePredictAnswer('{"code":"OVERLOADED"}'), undefined);
    assert.equal(parsePredictAnswer('not json'), undefined);
  });

  it('reads Prometheus text', () => {
    const values = parsePrometheusText(
      '# HELP x\n# TYPE x gauge\nprocess_resident_memory_bytes 123456\nserving_latency_correction{subnet="a-t1"} 1.5\nbad line\n',
    );
    assert.equal(values.get('process_resident_memory_bytes'), 123456);
    assert.equal(values.get('serving_latency_correction{subnet="a-t1"}'), 1.5);
    assert.equal(values.size, 2);
  });

  it('reads the batching counters per operating point', () => {
    const values = parsePrometheusText(
      [
        'serving_batch_texts_bucket{le="1",subnet="a-t16"} 3',
        'serving_batch_texts_sum{subnet="a-t16"} 12',
        'serving_batch_texts_count{subnet="a-t16"} 4',
        'serving_batch_texts_sum{subnet="b-t32"} 1',
        'serving_batch_texts_count{subnet="b-t32"} 1',
      ].join('\n'),
    );
    assert.deepEqual(
      [...batchCounters(values)],
      [
        ['a-t16', { calls: 4, texts: 12 }],
        ['b-t32', { calls: 1, texts: 1 }],
      ],
    );
  });
});
