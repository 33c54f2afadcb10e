import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBenchCatalog, parseBenchArgs } from '../../scripts/bench.ts';
import { readBenchCounts } from '../../scripts/bench-serving.ts';
import { countFlops } from '../../src/model/accounting.ts';
import { assertSubnetFits, formatSubnetId, largestSubnet } from '../../src/model/config.ts';
import { DEFAULT_SHAPE } from '../helpers/random-weights.ts';

describe('engine benchmark (scripts/bench.ts)', () => {
  it('spans the default supernet from full size down to less than 1/8 of its FLOPs, all distinct', () => {
    const catalog = defaultBenchCatalog(DEFAULT_SHAPE);
    assert.equal(catalog.length, 6);
    for (const s of catalog) assertSubnetFits(DEFAULT_SHAPE, s);
    assert.equal(new Set(catalog.map(formatSubnetId)).size, 6);
    const full = countFlops(DEFAULT_SHAPE, largestSubnet(DEFAULT_SHAPE), 1, 128);
    const ratios = catalog.map((s) => countFlops(DEFAULT_SHAPE, s, 1, 128) / full);
    assert.equal(ratios[0], 1);
    assert.ok(Math.min(...ratios) < 1 / 8, `smallest ratio ${Math.min(...ratios)}`);
  });

  it('parses its flags once, with zod, and refuses unknown or incomplete ones', () => {
    assert.deepEqual(parseBenchArgs([]), { quick: false, threads: 1, form: 'fused' });
    assert.equal(parseBenchArgs(['--form', 'both']).form, 'both');
    assert.deepEqual(
      parseBenchArgs(['--quick', '--json', 'out.json', '--artifact', 's3://b/m', '--threads', '2']),
      {
        quick: true,
        json: 'out.json',
        artifact: 's3://b/m',
        threads: 2,
        form: 'fused',
      },
    );
    for (const [argv, message] of [
      [['--json'], /--json needs a value/],
      [['--fast'], / unknown option --fast$/],
      [['--fast', '1'], / unknown option --fast$/],
      [['--constructor', '1'], / unknown option --constructor$/],
      [['extra'], /unexpected argument/],
      [['--threads', 'two'], /--threads/],
      [['--threads', '0'], /--threads/],
      [['--form', 'fast'], /--form/],
    ] as const) {
      assert.throws(() => parseBenchArgs(argv), message);
    }
  });
});

describe('serving benchmark (scripts/bench-serving.ts)', () => {
  it('reads its counts from the environment and refuses any that is not a positive integer', () => {
    assert.deepEqual(readBenchCounts({}), { requests: 2000, starts: 3 });
    assert.deepEqual(readBenchCounts({ BENCH_REQUESTS: '50', BENCH_STARTS: '' }), {
      requests: 50,
      starts: 3,
    });
    for (const [env, message] of [
      [{ BENCH_REQUESTS: 'abc' }, / BENCH_REQUESTS must be an integer from 1 to 1000000, not 'abc'$/],
      [{ BENCH_STARTS: '0' }, / BENCH_STARTS must be/],
      [{ BENCH_STARTS: '1.5' }, / BENCH_STARTS must be/],
    ] as const) {
      assert.throws(() => readBenchCounts(env), message);
    }
  });
});
