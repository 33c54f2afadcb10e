import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient, batchCounters, type ModelDescription } from './api-client.ts';
import { checkSlo } from './check-slo.ts';
import { type DriveLoadOptions, driveLoad, type RunMeasurement } from './drive-load.ts';
import type { LoadTestArgs } from './load-test-args.ts';
import { makeFixture } from './make-fixture.ts';
import { measureCapacity } from './measure-capacity.ts';
import { type IdleTiming, measureOverhead } from './measure-overhead.ts';
import type { ProgressBar } from './progress-bar.ts';
import { renderReportHtml } from './render-report-html.ts';
import { type LoadTestReport, LoadTestReportSchema, type RunResult } from './report-schema.ts';
import { loadReviewTexts } from './review-texts.ts';
import { runSoak } from './run-soak.ts';
import { REPO_ROOT, type SpawnedServer, spawnServer } from './spawn-server.ts';
import { buildTrafficMix, type TrafficMix } from './traffic-mix.ts';

// How long each phase runs, by mode.
export interface LoadTestPlan {
  runS: number;
  loads: number[];
  probeS: number;
  stepS: number;
  maxSteps: number;
  texts: number;
  warmS: number;
  overheadRequests: number;
  readyTimeoutMs: number;
}

export const QUICK_PLAN: LoadTestPlan = {
  runS: 2,
  loads: [0.25, 0.5, 0.8, 1.5],
  probeS: 2,
  stepS: 2,
  maxSteps: 4,
  texts: 64,
  warmS: 1,
  // The idle p99 sets the tight budget, so it is taken over many requests: with 500, only 5 were above it, and it
  // moved between 3.4 and 5.9 ms over three runs on one host.
  overheadRequests: 1000,
  readyTimeoutMs: 180_000,
};

export const FULL_PLAN: LoadTestPlan = {
  runS: 10,
  loads: [0.25, 0.5, 0.8, 1, 1.5, 2],
  probeS: 5,
  stepS: 5,
  maxSteps: 7,
  texts: 256,
  warmS: 3,
  overheadRequests: 2000,
  readyTimeoutMs: 300_000,
};

// The soak's offered load, as a fraction of capacity.
const SOAK_LOAD = 0.7;

// What the harness needs besides its arguments.
export interface RunLoadTestContext {
  // The harness's environment (passed on to a spawned server).
  env: Record<string, string | undefined>;
  progress: ProgressBar | undefined;
  // Where progress lines go without a progress bar (default: stderr).
  log?: (line: string) => void;
  // Overrides the plan (tests make it tiny).
  plan?: Partial<LoadTestPlan>;
  // Fixture shape when the harness publishes one (--fixture).
  fixtureShape?: 'default' | 'small';
}

// Where the report went.
export interface LoadTestOutcome {
  report: LoadTestReport;
  jsonPath: string;
  htmlPath: string;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const load3 = () => os.loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number];

// Engine calls and mean texts per call of each operating point between two scrapes of /metrics.
function batchesBetween(
  before: ReadonlyMap<string, number> | undefined,
  after: ReadonlyMap<string, number> | undefined,
): RunResult['batches'] {
  if (before === undefined || after === undefined) return null;
  const start = batchCounters(before);
  const out: NonNullable<RunResult['batches']> = {};
  for (const [subnet, end] of batchCounters(after)) {
    const calls = end.calls - (start.get(subnet)?.calls ?? 0);
    const texts = end.texts - (start.get(subnet)?.texts ?? 0);
    if (calls > 0) out[subnet] = { calls, meanTexts: Math.round((texts / calls) * 100) / 100 };
  }
  return out;
}

// Resolves what the spawned server serves: --supernet, SUPERNET_URI, --fixture, or the bundled default.
async function chooseSupernet(
  args: LoadTestArgs,
  env: Record<string, string | undefined>,
  fixtureDir: () => Promise<string>,
  shape: 'default' | 'small',
): Promise<string | undefined> {
  if (args.supernet !== undefined)
    return /^[a-z0-9]+:\/\//i.test(args.supernet) ? args.supernet : resolve(args.supernet);
  if (args.fixture) return makeFixture(await fixtureDir(), shape);
  if (env.SUPERNET_URI !== undefined && env.SUPERNET_URI !== '') return env.SUPERNET_URI;
  const bundled = join(REPO_ROOT, 'models', 'imdb-sentiment');
  if (!existsSync(join(bundled, 'LATEST'))) {
    throw new Error(
      `the bundled supernet ${bundled} has no LATEST yet (the trained model is not published); ` +
        'run with --fixture (a random-weight supernet of a realistic shape), --supernet DIR or --url URL',
    );
  }
  return undefined;
}

// Waits until the server's queue is empty and no engine call runs (from /metrics), at most `maxMs`; without
// /metrics, a fixed pause.
async function settle(api: ApiClient, maxMs = 10_000): Promise<void> {
  const until = Date.now() + maxMs;
  for (;;) {
    const metrics = await api.scrapeMetrics();
    if (metrics === undefined) {
      await new Promise((r) => setTimeout(r, 1000));
      return;
    }
    const busy = (metrics.get('serving_queue_length') ?? 0) + (metrics.get('serving_running_calls') ?? 0);
    if (busy === 0 || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 200));
}

// Runs the whole load test and writes DIR/report.json and DIR/report.html: start (or reach) the server, derive
// the budget classes from its catalog, measure capacity, drive every policy (elastic selection and three pinned
// baselines) at every offered load, optionally soak, and check the SLO target.
export async function runLoadTest(args: LoadTestArgs, context: RunLoadTestContext): Promise<LoadTestOutcome> {
  const plan: LoadTestPlan = { ...(args.quick ? QUICK_PLAN : FULL_PLAN), ...context.plan };
  if (args.loads) plan.loads = [...args.loads].sort((a, b) => a - b);
  if (args.duration) plan.runS = args.duration;
  const progress = context.progress;
  const say = (line: string) => (progress ? progress.log(line) : (context.log ?? console.error)(line));
  const outDir = resolve(args.out);
  await mkdir(outDir, { recursive: true });
  const loadAvg = new LoadAverages();
  const owned: OwnedResources = {};
  try {
    const textsPromise = loadReviewTexts(plan.texts, args.seed);
    const target = await reachTarget(args, context, plan, outDir, say, owned);
    const api = new ApiClient(target.url);
    if (owned.server === undefined) await api.waitUntilReady(30_000);
    const model = await api.modelName(args.model);
    const description = await api.describeModel(model);
    const { texts, words } = await textsPromise;
    const test: LoadTestState = {
      api,
      model,
      texts,
      plan,
      progress,
      say,
      loadAvg,
      snapshots: [],
      spent: 0,
      baseLoad: (classes) => ({ url: target.url, model, classes, texts, seed: args.seed }),
    };
    const { mix, idle } = await deriveBudgets(test, description, args.budgets);

    const policies = [
      ...new Set(['elastic', mix.baselines.largest.id, mix.baselines.middle.id, mix.baselines.smallest.id]),
    ];
    const runSeconds = plan.loads.length * policies.length * plan.runS;
    const capacitySeconds = args.capacity === undefined ? plan.probeS + plan.stepS * plan.maxSteps : 0;
    const soakSeconds = (args.soak ?? 0) * 60;
    progress?.setTotal(capacitySeconds + runSeconds + soakSeconds);

    const { capacityRps, capacity } =
      args.capacity !== undefined
        ? {
            capacityRps: args.capacity,
            capacity: { method: 'given (--capacity)', probeRps: 0, given: true, capped: false, steps: [] },
          }
        : await searchCapacity(test, mix, capacitySeconds);
    const runs = await runPolicies(test, mix, policies, capacityRps);
    const soak =
      args.soak === undefined
        ? null
        : await soakServer(
            test,
            mix,
            { minutes: args.soak, seconds: soakSeconds, capacityRps },
            owned.server,
          );
    await takeSnapshot(test, 'at the end');

    const report: LoadTestReport = {
      formatVersion: 1,
      createdAt: new Date().toISOString(),
      machine: describeMachine(loadAvg),
      target: {
        url: target.url,
        spawned: owned.server !== undefined,
        supernet: target.supernet,
        model,
        modelVersion: description.version,
        engine: description.host.engine,
        workers: description.host.workers,
      },
      settings: describeSettings(args, plan, texts.length, words),
      catalog: description.catalog.map((p) => ({
        id: p.id,
        flops: p.flops,
        memoryBytes: p.memoryBytes,
        devAccuracy: p.devAccuracy,
        calibratedLatencyMs: p.calibratedLatencyMs,
      })),
      budgets: describeBudgets(mix, idle),
      latencySnapshots: test.snapshots,
      baselines: {
        largest: mix.baselines.largest.id,
        middle: mix.baselines.middle.id,
        smallest: mix.baselines.smallest.id,
      },
      capacityRps,
      capacity,
      runs,
      slo: checkSlo(
        runs,
        mix.classes.filter((c) => c.inSlo).map((c) => c.name),
      ),
      soak,
    };
    const checked = LoadTestReportSchema.parse(report);
    const jsonPath = join(outDir, 'report.json');
    const htmlPath = join(outDir, 'report.html');
    await writeFile(jsonPath, `${JSON.stringify(checked, null, 2)}\n`);
    await writeFile(htmlPath, renderReportHtml(checked));
    return { report: checked, jsonPath, htmlPath };
  } finally {
    progress?.update(0, 'stopping the server');
    await owned.server?.stop();
    if (owned.fixtureDir !== undefined) await rm(owned.fixtureDir, { recursive: true, force: true });
  }
}

// What the harness started and must stop or remove at the end, whatever happens.
interface OwnedResources {
  server?: SpawnedServer;
  fixtureDir?: string;
}

// The 1-minute load averages of the machine: at the start, and the highest seen at the notes taken since.
class LoadAverages {
  readonly start = load3();
  max = this.start[0];

  // The load averages now, noted towards the highest.
  note(): [number, number, number] {
    const now = load3();
    this.max = Math.max(this.max, now[0]);
    return now;
  }
}

// What every phase of the test shares once the server answers.
interface LoadTestState {
  api: ApiClient;
  model: string;
  // The review texts requests carry.
  texts: readonly string[];
  plan: LoadTestPlan;
  progress: ProgressBar | undefined;
  say: (line: string) => void;
  loadAvg: LoadAverages;
  // The server's latency predictions at points of the test.
  snapshots: LoadTestReport['latencySnapshots'];
  // Seconds of the planned phases done (the progress bar's position).
  spent: number;
  // What every run of driveLoad sends to, with these classes.
  baseLoad: (
    classes: DriveLoadOptions['classes'],
  ) => Pick<DriveLoadOptions, 'url' | 'model' | 'classes' | 'texts' | 'seed'>;
}

// The server to test: --url as given, or one spawned here on the chosen supernet (noted in `owned`).
async function reachTarget(
  args: LoadTestArgs,
  context: RunLoadTestContext,
  plan: LoadTestPlan,
  outDir: string,
  say: (line: string) => void,
  owned: OwnedResources,
): Promise<{ url: string; supernet: string | null }> {
  if (args.url !== undefined) return { url: args.url, supernet: null };
  const chosen = await chooseSupernet(
    args,
    context.env,
    async () => {
      owned.fixtureDir = await mkdtemp(join(os.tmpdir(), 'loadtest-fixture-'));
      return owned.fixtureDir;
    },
    context.fixtureShape ?? 'default',
  );
  const supernet = chosen ?? join(REPO_ROOT, 'models');
  context.progress?.update(0, 'starting the server');
  const server = await spawnServer({
    supernetUri: chosen,
    env: context.env,
    logPath: join(outDir, 'server.log'),
    readyTimeoutMs: plan.readyTimeoutMs,
  });
  owned.server = server;
  say(`server pid ${server.pid} at ${server.url} serving ${supernet} (log: ${server.logPath})`);
  yieldToServer(say);
  return { url: server.url, supernet };
}

// Notes the server's latency prediction of every operating point now (skipped when it does not answer).
async function takeSnapshot(test: LoadTestState, phase: string): Promise<void> {
  const now = await test.api.describeModel(test.model).catch(() => undefined);
  if (now)
    test.snapshots.push({
      phase,
      latencyMs: Object.fromEntries(now.catalog.map((p) => [p.id, p.latencyMs ?? null])),
    });
}

// Warms the server up (JIT, sessions, the latency model's corrections), measures its idle overhead, and derives
// the budget classes of the mix from the catalog and that overhead.
async function deriveBudgets(
  test: LoadTestState,
  description: ModelDescription,
  budgets: LoadTestArgs['budgets'],
): Promise<{ mix: TrafficMix; idle: IdleTiming }> {
  const { api, plan } = test;
  const warmMix = buildTrafficMix(description.catalog, 0);
  test.progress?.update(0, 'warming up');
  if (plan.warmS > 0) {
    await driveLoad({
      ...test.baseLoad(warmMix.classes),
      rps: undefined,
      connections: 4,
      durationS: plan.warmS,
    });
  }
  await settle(api);
  const idle = await measureOverhead(
    api,
    test.model,
    warmMix.baselines.smallest.id,
    test.texts,
    plan.overheadRequests,
  );
  const mix = buildTrafficMix(description.catalog, idle.overheadMs, idle.idleP99Ms, budgets);
  await takeSnapshot(test, 'after warm-up');
  test.say(`budgets: ${mix.classes.map((c) => `${c.name} ${JSON.stringify(c.headers)}`).join(', ')}`);
  test.say(`derivation: ${mix.derivation}`);
  return { mix, idle };
}

// The capacity of the mix under elastic selection, searched step by step.
async function searchCapacity(
  test: LoadTestState,
  mix: TrafficMix,
  seconds: number,
): Promise<{ capacityRps: number; capacity: LoadTestReport['capacity'] }> {
  const { plan, progress, say } = test;
  const loose = mix.classes.find((c) => c.name === 'loose')?.latencyBudgetMs ?? 100;
  const measured = await measureCapacity({
    load: test.baseLoad(mix.classes),
    probeS: plan.probeS,
    stepS: plan.stepS,
    maxSteps: plan.maxSteps,
    latencyCapMs: Math.max(100, 4 * loose),
    settle: () => settle(test.api),
    onProgress: (label, done) => progress?.update(done, label),
  });
  test.loadAvg.note();
  const capacityRps = measured.capacityRps;
  const capacity = {
    method: measured.method,
    probeRps: measured.probeRps,
    given: false,
    capped: measured.capped,
    steps: measured.steps,
  };
  test.spent = seconds;
  await takeSnapshot(test, 'after the capacity search');
  for (const s of measured.steps) {
    say(
      `  capacity step ${s.offeredRps.toFixed(0)} req/s: ${s.reason} (ok ${s.okRps.toFixed(0)}/s, p99 ${s.p99Ms?.toFixed(1) ?? '-'} ms, load ${s.loadAvg[0]})`,
    );
  }
  say(
    `capacity: ${capacityRps.toFixed(0)} req/s${measured.capped ? ' (the search never failed a step: at least this)' : ''}`,
  );
  return { capacityRps, capacity };
}

// One run per policy and offered load. Elastic selection at every load first, then the pinned baselines: a pinned
// run feeds the server's online latency corrections of its point (heavily, when it overloads the server), which
// elastic selection reads and baselines do not.
async function runPolicies(
  test: LoadTestState,
  mix: TrafficMix,
  policies: string[],
  capacityRps: number,
): Promise<RunResult[]> {
  const { api, plan, progress, say } = test;
  const schedule: Array<[string, number]> = [
    ...plan.loads.map((load): [string, number] => ['elastic', load]),
    ...plan.loads.flatMap((load) =>
      policies.filter((p) => p !== 'elastic').map((policy): [string, number] => [policy, load]),
    ),
  ];
  const runs: RunResult[] = [];
  for (const [policy, loadFraction] of schedule) {
    await settle(api);
    const offeredRps = Math.max(1, Math.round(loadFraction * capacityRps));
    const label = `${policy === 'elastic' ? 'elastic' : `pinned ${policy}`} at ${loadFraction}x (${offeredRps} req/s)`;
    const before = test.spent;
    const countersBefore = await api.scrapeMetrics();
    const m = await driveLoad({
      ...test.baseLoad(mix.classes),
      rps: offeredRps,
      durationS: plan.runS,
      ...(policy === 'elastic' ? {} : { pin: policy }),
      onProgress: (f) => progress?.update(before + f * plan.runS, label),
    });
    test.spent += plan.runS;
    if (m.unmatched > 0 || m.unparsed > 0) {
      say(`  warning: ${m.unmatched} answers not matched to a class, ${m.unparsed} 2xx bodies not parsed`);
    }
    const loadAvg = test.loadAvg.note();
    const batches = batchesBetween(countersBefore, await api.scrapeMetrics());
    runs.push(runResult({ policy, loadFraction, offeredRps }, m, loadAvg, batches));
    if (policy === 'elastic' && loadFraction === plan.loads.at(-1))
      await takeSnapshot(test, 'after the elastic runs');
  }
  return runs;
}

// The soak: elastic selection at SOAK_LOAD of capacity for `minutes`, with the server's memory sampled.
async function soakServer(
  test: LoadTestState,
  mix: TrafficMix,
  soak: { minutes: number; seconds: number; capacityRps: number },
  server: SpawnedServer | undefined,
): Promise<NonNullable<LoadTestReport['soak']>> {
  await settle(test.api);
  const offeredRps = Math.max(1, Math.round(SOAK_LOAD * soak.capacityRps));
  const before = test.spent;
  const label = `soak at ${SOAK_LOAD}x (${offeredRps} req/s) for ${soak.minutes} min`;
  const result = await runSoak({
    load: { ...test.baseLoad(mix.classes), rps: offeredRps },
    minutes: soak.minutes,
    api: test.api,
    rssBytes: server ? () => server.rssBytes() : undefined,
    onProgress: (f) => test.progress?.update(before + f * soak.seconds, label),
  });
  return {
    minutes: soak.minutes,
    offeredRps,
    rssSource: result.rssSource,
    samples: result.samples,
    slopeMbPerMin: result.slopeMbPerMin,
    growthMb: result.growthMb,
    flat: result.flat,
    run: runResult(
      { policy: 'elastic', loadFraction: SOAK_LOAD, offeredRps },
      result.run,
      test.loadAvg.note(),
      null,
    ),
  };
}

// One run's figures as the report keeps them.
function runResult(
  run: { policy: string; loadFraction: number; offeredRps: number },
  m: RunMeasurement,
  loadAvg: [number, number, number],
  batches: RunResult['batches'],
): RunResult {
  return {
    policy: run.policy,
    loadFraction: run.loadFraction,
    offeredRps: run.offeredRps,
    sentRps: round3(m.sentRps),
    okRps: round3(m.okRps),
    durationS: m.durationS,
    connections: m.connections,
    errors: m.errors,
    timeouts: m.timeouts,
    unmatched: m.unmatched + m.unparsed,
    statusCounts: m.statusCounts,
    loadAvg,
    batches,
    classes: m.classes,
  };
}

// The machine the figures come from, and how busy it was.
function describeMachine(loadAvg: LoadAverages): LoadTestReport['machine'] {
  return {
    hostname: os.hostname(),
    platform: os.platform(),
    arch: os.arch(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    loadAvgStart: loadAvg.start,
    loadAvgEnd: loadAvg.note(),
    loadAvgMax1m: loadAvg.max,
    generatorNice: os.getPriority(),
  };
}

// The test's settings and the texts it sent (their number and lengths in words).
function describeSettings(
  args: LoadTestArgs,
  plan: LoadTestPlan,
  count: number,
  words: readonly number[],
): LoadTestReport['settings'] {
  const sorted = [...words].sort((a, b) => a - b);
  return {
    quick: args.quick,
    runDurationS: plan.runS,
    loadFractions: plan.loads,
    seed: args.seed,
    texts: {
      count,
      words: {
        min: sorted[0] ?? 0,
        median: sorted[Math.floor(sorted.length / 2)] ?? 0,
        max: sorted.at(-1) ?? 0,
      },
      tokensEstimate:
        "about 1.3 wordpieces per word: most texts exceed 128 tokens and are cut to each point's length",
    },
  };
}

// The budget classes and how they were derived from the idle server's timing.
function describeBudgets(mix: TrafficMix, idle: IdleTiming): LoadTestReport['budgets'] {
  return {
    derivation: mix.derivation,
    overheadMs: round3(idle.overheadMs),
    idleP99Ms: round3(idle.idleP99Ms),
    classes: mix.classes.map((c) => ({
      name: c.name,
      latencyBudgetMs: c.latencyBudgetMs ?? null,
      memoryBudgetMb: c.memoryBudgetMb ?? null,
      weight: c.weight,
      inSlo: c.inSlo,
    })),
  };
}

// The load generator and a server it spawned share this machine's cores, where in production the clients are
// elsewhere: the generator lowers its own priority so that the server's threads run first and the figures are
// the server's. Raising it back needs privileges, so this lasts until the process exits.
const GENERATOR_NICE = 10;
export function yieldToServer(say: (line: string) => void): void {
  try {
    if (os.getPriority() < GENERATOR_NICE) os.setPriority(GENERATOR_NICE);
  } catch (error) {
    say(`could not lower the load generator's priority: ${(error as Error).message}`);
  }
}
