import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseLoadTestArgs } from '../../loadtests/load-test-args.ts';
import { formatFairness, runFairness } from '../../loadtests/run-fairness.ts';
import { REPO_ROOT } from '../../loadtests/spawn-server.ts';

// A smoke run of the fairness test on a repository of two small fixture models: it spawns the server, pins the
// heavy model's largest point, runs both phases for a second and writes the report. Whether the target is met
// depends on the machine, so only the report's shape and counts are checked.
describe('runFairness (smoke)', () => {
  it('drives a light model alone and beside a flooded one, and writes fairness.json', {
    timeout: 180_000,
  }, async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'fairness-root-'));
    const out = await mkdtemp(join(tmpdir(), 'fairness-out-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    t.after(() => rm(out, { recursive: true, force: true }));
    for (const [model, seed] of [
      ['heavy-model', '1'],
      ['light-model', '2'],
    ] as const) {
      execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'scripts/make-fixture-supernet.ts',
          '--out',
          root,
          '--shape',
          'small',
          '--model',
          model,
          '--seed',
          seed,
        ],
        { cwd: REPO_ROOT, stdio: 'ignore' },
      );
    }
    const args = parseLoadTestArgs([
      '--fairness',
      '--supernet',
      root,
      '--models',
      'heavy-model,light-model',
      '--quick',
      '--duration',
      '1',
      '--capacity',
      '50',
      '--out',
      out,
    ]);
    const { report, jsonPath } = await runFairness(args, {
      env: { ...process.env, CALIBRATION_MS: '100', INFERENCE_WORKERS: '1', RELOAD_INTERVAL_MS: '0' },
      progress: undefined,
    });
    assert.deepEqual(JSON.parse(await readFile(jsonPath, 'utf8')), report);
    assert.equal(report.heavy.model, 'heavy-model');
    assert.equal(report.light.model, 'light-model');
    assert.equal(report.heavy.capacityRps, 50);
    assert.equal(report.heavy.offeredRps, 200);
    assert.match(report.heavy.pinned, /-t\d+$/);
    assert.ok(report.light.alone.count > 0 && report.light.shared.count > 0);
    assert.ok(report.heavy.shared.count > 0);
    assert.equal(report.light.classes.length, 1);
    assert.ok((report.light.classes[0]!.budgetMs ?? 0) > 0);
    assert.equal(typeof report.met, 'boolean');
    assert.match(formatFairness(report), /attainment drop: -?\d+\.\d\d points/);
  });

  it('refuses --models that are not two different names', () => {
    assert.throws(() => parseLoadTestArgs(['--fairness', '--models', 'a']), /--models: two model names/);
    assert.throws(
      () => parseLoadTestArgs(['--fairness', '--models', 'a,a']),
      /--models: two different models/,
    );
  });
});
