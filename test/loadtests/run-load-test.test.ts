import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatSummary } from '../../loadtests/format-summary.ts';
import { parseLoadTestArgs } from '../../loadtests/load-test-args.ts';
import { LoadTestReportSchema } from '../../loadtests/report-schema.ts';
import { runLoadTest } from '../../loadtests/run-load-test.ts';

// A smoke run of the whole harness: it publishes the small fixture, spawns the server on it, derives the budget
// classes, runs a one-step capacity search and one-second runs of every policy, and writes the report. Nothing
// here depends on how fast the machine is.
describe('runLoadTest (smoke)', () => {
  it('starts a server, drives every policy and writes a well-formed report', {
    timeout: 180_000,
  }, async (t) => {
    const out = await mkdtemp(join(tmpdir(), 'loadtest-smoke-'));
    t.after(() => rm(out, { recursive: true, force: true }));
    const args = parseLoadTestArgs([
      '--fixture',
      '--quick',
      '--out',
      out,
      '--loads',
      '0.5',
      '--duration',
      '1',
    ]);
    const { report, jsonPath, htmlPath } = await runLoadTest(args, {
      env: { ...process.env, CALIBRATION_MS: '100', INFERENCE_WORKERS: '1', RELOAD_INTERVAL_MS: '0' },
      progress: undefined,
      log: () => {},
      fixtureShape: 'small',
      plan: { probeS: 1, stepS: 1, maxSteps: 1, warmS: 1, overheadRequests: 5, texts: 16 },
    });

    const json = LoadTestReportSchema.parse(JSON.parse(await readFile(jsonPath, 'utf8')));
    assert.deepEqual(json, report);
    assert.equal(report.target.spawned, true);
    assert.equal(report.target.model, 'fixture-sentiment');
    assert.deepEqual(report.settings.loadFractions, [0.5]);
    assert.ok(report.capacityRps > 0);
    assert.ok(report.capacity.steps.length >= 1);
    // Elastic and three distinct pinned baselines (the small fixture has three points), at the one load.
    const policies = report.runs.map((r) => r.policy);
    assert.deepEqual(policies, [
      'elastic',
      report.baselines.largest,
      report.baselines.middle,
      report.baselines.smallest,
    ]);
    for (const run of report.runs) {
      assert.equal(run.unmatched, 0);
      assert.deepEqual(
        run.classes.map((c) => c.name),
        ['tight', 'medium', 'loose', 'memory', 'none'],
      );
      const answered = run.classes.reduce((s, c) => s + c.okCount, 0);
      assert.ok(answered > 0, `${run.policy}: nothing answered`);
      if (run.policy !== 'elastic') {
        for (const c of run.classes) assert.ok(Object.keys(c.subnets).every((id) => id === run.policy));
      }
    }
    assert.equal(report.slo.checks.length, 1);
    assert.equal(report.soak, null);

    const html = await readFile(htmlPath, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.ok((html.match(/<svg /g) ?? []).length >= 10);
    assert.doesNotMatch(html, /<script|<link|@import|src="http|href="http/i);
    assert.match(formatSummary(report), /verdict: SLO target (MET|MISSED)/);

    // The spawned server is gone.
    await assert.rejects(fetch(`${report.target.url}/v2/health/live`));
  });

  it('reads --budgets as three ordered latency budgets, and refuses others in one line', () => {
    assert.deepEqual(parseLoadTestArgs(['--budgets', '6,9,18.5']).budgets, [6, 9, 18.5]);
    assert.throws(() => parseLoadTestArgs(['--budgets', '9,6,18']), /ordered tight <= medium <= loose/);
    assert.throws(() => parseLoadTestArgs(['--budgets', '6,9']), /three comma-separated budgets/);
  });

  it('names the option in a one-line message for every bad argument', () => {
    const message = (argv: string[]) => {
      try {
        parseLoadTestArgs(argv);
      } catch (error) {
        return (error as Error).message;
      }
      return assert.fail(`${argv.join(' ')} was accepted`);
    };
    for (const [argv, expected] of [
      [['--loads', 'abc'], /^--loads: a comma-separated list of positive numbers$/],
      [['--duration', '0'], /^--duration: /],
      [['--url', 'notaurl'], /^--url: .*; --url: only a server on this machine/],
      [['--soak', '-1'], /^Option '--soak' argument is ambiguous/],
      [['--bogus'], /^Unknown option '--bogus'/],
    ] as const) {
      const text = message([...argv]);
      assert.match(text, expected);
      assert.doesNotMatch(text, /\n/);
    }
  });

  it('refuses a --url that is not on this machine', () => {
    assert.throws(
      () => parseLoadTestArgs(['--url', 'http://example.com:8080']),
      /only a server on this machine/,
    );
  });
});
