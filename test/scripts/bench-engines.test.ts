import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBenchCatalog, parseBenchArgs } from '../../scripts/bench.ts';
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
    assert.deepEqual(parseBenchArgs([]), { quick: false, threads: 1 });
    assert.deepEqual(
      parseBenchArgs(['--quick', '--json', 'out.json', '--artifact', 's3://b/m', '--threads', '2']),
      {
        quick: true,
        json: 'out.json',
        artifact: 's3://b/m',
        threads: 2,
      },
    );
    for (const [argv, message] of [
      [['--json'], /--json needs a value/],
      [['--fast'], /fast/],
      [['extra'], /unexpected argument/],
      [['--threads', 'two'], /--threads/],
      [['--threads', '0'], /--threads/],
    ] as const) {
      assert.throws(() => parseBenchArgs(argv), message);
    }
  });
});
