import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSlo } from '../../loadtests/check-slo.ts';
import type { ClassResult, RunResult } from '../../loadtests/report-schema.ts';

const klass = (name: string, count: number, attainment: number): ClassResult => ({
  name,
  budgetMs: 5,
  memoryBudgetMb: null,
  count,
  okCount: count,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: 3,
  maxMs: 4,
  serverP50Ms: 1,
  serverP95Ms: 2,
  serverP99Ms: 3,
  queueP50Ms: 0,
  queueP99Ms: 0,
  meanInferenceMs: 1,
  attainment,
  attainmentClient: attainment,
  reportedMet: 1,
  refused: 0,
  refusedCount: 0,
  errorCount: 0,
  meanAccuracy: 0.8,
  throughputRps: 1,
  subnets: {},
});

const run = (policy: string, loadFraction: number, classes: ClassResult[]): RunResult => ({
  policy,
  loadFraction,
  offeredRps: loadFraction * 100,
  sentRps: loadFraction * 100,
  okRps: loadFraction * 100,
  durationS: 1,
  connections: 1,
  errors: 0,
  timeouts: 0,
  unmatched: 0,
  statusCounts: {},
  loadAvg: [0, 0, 0],
  batches: null,
  classes,
});

describe('checkSlo', () => {
  it('pools the SLO classes of the elastic runs up to the load limit', () => {
    const runs = [
      run('elastic', 0.5, [klass('tight', 100, 0.98), klass('loose', 300, 1), klass('none', 50, 0)]),
      run('elastic', 0.8, [klass('tight', 100, 1), klass('loose', 100, 1)]),
      run('elastic', 1.5, [klass('tight', 100, 0), klass('loose', 100, 0)]),
      run('small-t32', 0.5, [klass('tight', 100, 0), klass('loose', 100, 0)]),
    ];
    const slo = checkSlo(runs, ['tight', 'loose']);
    assert.deepEqual(
      slo.checks.map((c) => [c.loadFraction, c.count, c.attainment, c.met]),
      [
        [0.5, 400, 398 / 400, true],
        [0.8, 200, 1, true],
      ],
    );
    assert.equal(slo.met, true);
  });

  it('is missed when one load falls short, or when no load was checked', () => {
    const runs = [run('elastic', 0.25, [klass('tight', 100, 0.97)])];
    assert.equal(checkSlo(runs, ['tight']).met, false);
    assert.equal(checkSlo([run('elastic', 1, [klass('tight', 100, 1)])], ['tight']).met, false);
  });
});
