import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from './api-client.ts';
import { driveLoad, type RunMeasurement } from './drive-load.ts';
import type { LoadTestArgs } from './load-test-args.ts';
import { measureCapacity } from './measure-capacity.ts';
import { measureOverhead } from './measure-overhead.ts';
import type { ProgressBar } from './progress-bar.ts';
import type { ClassResult } from './report-schema.ts';
import { loadReviewTexts } from './review-texts.ts';
import { yieldToServer } from './run-load-test.ts';
import { type SpawnedServer, spawnServer } from './spawn-server.ts';
import { buildTrafficMix, pickBaselines, type TrafficClass } from './traffic-mix.ts';

// The flooded model's offered load, as a multiple of its capacity, and the light model's, as a fraction of it.
export const OVERLOAD = 4;
export const LIGHT_SHARE = 0.1;
// How far (in points of attainment) the light model may fall from running alone.
export const FAIRNESS_TOLERANCE_POINTS = 1;

// What the fairness test measured.
export interface FairnessReport {
  createdAt: string;
  machine: {
    cpuModel: string;
    cpus: number;
    node: string;
    loadAvgStart: number[];
    loadAvgEnd: number[];
    generatorNice: number;
  };
  heavy: {
    model: string;
    pinned: string;
    capacityRps: number;
    offeredRps: number;
    sentRps: number;
    shared: ClassResult;
  };
  light: {
    model: string;
    offeredRps: number;
    classes: Array<{ name: string; budgetMs: number | null }>;
    alone: ClassResult;
    shared: ClassResult;
  };
  runS: number;
  // Light attainment alone minus shared, in points (positive: the flood cost the light model attainment).
  attainmentDropPoints: number;
  met: boolean;
}

// What the fairness test needs besides its arguments.
export interface FairnessContext {
  env: Record<string, string | undefined>;
  progress: ProgressBar | undefined;
}

// Two models on one server: the light one's budgeted traffic alone, then the same while the heavy one is flooded
// at OVERLOAD x its capacity. The scheduler shares the inference slots between models, so the light model's
// attainment should stay within FAIRNESS_TOLERANCE_POINTS of running alone. Writes DIR/fairness.json.
export async function runFairness(
  args: LoadTestArgs,
  context: FairnessContext,
): Promise<{ report: FairnessReport; jsonPath: string }> {
  const runS = args.duration ?? (args.quick ? 5 : 15);
  const say = (line: string) => (context.progress ? context.progress.log(line) : console.error(line));
  const outDir = resolve(args.out);
  await mkdir(outDir, { recursive: true });
  const loadAvgStart = os.loadavg();
  let server: SpawnedServer | undefined;
  try {
    let url = args.url;
    if (url === undefined) {
      context.progress?.update(0, 'starting the server');
      server = await spawnServer({
        supernetUri: args.supernet === undefined ? undefined : resolveUri(args.supernet),
        env: context.env,
        logPath: join(outDir, 'server.log'),
        readyTimeoutMs: 300_000,
      });
      url = server.url;
      say(`server pid ${server.pid} at ${url} (log: ${server.logPath})`);
      yieldToServer(say);
    }
    const api = new ApiClient(url);
    await api.waitUntilReady(30_000);
    const [heavyName, lightName] = await pickModels(api, args.models);
    const { texts } = await loadReviewTexts(args.quick ? 64 : 256, args.seed);
    const load = (model: string, classes: readonly TrafficClass[]) => ({
      url: url!,
      model,
      classes,
      texts,
      seed: args.seed,
    });

    // The heavy model's flood pins its largest point: requests that keep the engine busy (the case where one model
    // could starve another), not the event loop. The light model's budget allows its own idle latency plus one
    // call of the heavy model, which no scheduler can interrupt.
    context.progress?.setTotal(3 * runS + 20);
    context.progress?.update(0, `budgets of ${heavyName} and ${lightName}`);
    const heavy = await api.describeModel(heavyName);
    const heavyPin = pickBaselines(heavy.catalog).largest;
    const light = await api.describeModel(lightName);
    const lightWarm = buildTrafficMix(light.catalog, 0);
    await driveLoad({ ...load(lightName, lightWarm.classes), rps: undefined, connections: 4, durationS: 2 });
    const idle = await measureOverhead(
      api,
      lightName,
      lightWarm.baselines.smallest.id,
      texts,
      args.quick ? 300 : 1000,
    );
    const budgetMs = args.budgets?.[1] ?? Math.ceil(idle.idleP99Ms + 2 * heavyPin.calibratedLatencyMs + 1);
    const lightClasses: TrafficClass[] = [budgetClass('budgeted', budgetMs)];
    const heavyClasses: TrafficClass[] = [budgetClass('pinned', undefined)];
    say(
      `${heavyName} pinned to ${heavyPin.id} (${heavyPin.calibratedLatencyMs.toFixed(2)} ms a call); ${lightName} budget ${budgetMs} ms (idle p99 ${idle.idleP99Ms.toFixed(2)} ms)`,
    );

    context.progress?.update(0, `capacity of ${heavyName}`);
    const capacityRps =
      args.capacity ??
      (
        await measureCapacity({
          load: { ...load(heavyName, heavyClasses), pin: heavyPin.id },
          probeS: args.quick ? 2 : 5,
          stepS: args.quick ? 2 : 4,
          maxSteps: args.quick ? 3 : 5,
          latencyCapMs: Math.max(100, 20 * heavyPin.calibratedLatencyMs),
          settle: () => pause(1000),
        })
      ).capacityRps;
    const heavyRps = Math.round(OVERLOAD * capacityRps);
    // A light load: a tenth of what the engine does on the heavy model, in requests per second (at least 5).
    const lightRps = Math.max(5, Math.round(LIGHT_SHARE * capacityRps));
    say(
      `${heavyName}: capacity ${capacityRps} req/s, flooded at ${heavyRps}; ${lightName} at ${lightRps} req/s`,
    );

    context.progress?.update(20, `${lightName} alone`);
    const alone = await driveLoad({ ...load(lightName, lightClasses), rps: lightRps, durationS: runS });
    await pause(2000);
    context.progress?.update(20 + runS, `${lightName} beside ${heavyName} at ${OVERLOAD}x`);
    const [heavyShared, lightShared] = await Promise.all([
      driveLoad({ ...load(heavyName, heavyClasses), pin: heavyPin.id, rps: heavyRps, durationS: runS }),
      driveLoad({ ...load(lightName, lightClasses), rps: lightRps, durationS: runS, seed: args.seed + 1 }),
    ]);
    const drop = 100 * ((alone.all.attainment ?? 0) - (lightShared.all.attainment ?? 0));
    const report: FairnessReport = {
      createdAt: new Date().toISOString(),
      machine: {
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        cpus: os.availableParallelism(),
        node: process.version,
        loadAvgStart,
        loadAvgEnd: os.loadavg(),
        generatorNice: os.getPriority(),
      },
      heavy: {
        model: heavyName,
        pinned: heavyPin.id,
        capacityRps,
        offeredRps: heavyRps,
        sentRps: Math.round(heavyShared.sentRps),
        shared: heavyShared.all,
      },
      light: {
        model: lightName,
        offeredRps: lightRps,
        classes: lightClasses.map((c) => ({ name: c.name, budgetMs: c.latencyBudgetMs ?? null })),
        alone: alone.all,
        shared: lightShared.all,
      },
      runS,
      attainmentDropPoints: Math.round(drop * 100) / 100,
      met: drop <= FAIRNESS_TOLERANCE_POINTS,
    };
    const jsonPath = join(outDir, 'fairness.json');
    await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    return { report, jsonPath };
  } finally {
    await server?.stop();
  }
}

// The report in a few lines.
export function formatFairness(report: FairnessReport): string {
  const pct = (r: RunMeasurement['all']) =>
    r.attainment === null ? '-' : `${(100 * r.attainment).toFixed(2)}%`;
  const p99 = (r: RunMeasurement['all']) => (r.p99Ms === null ? '-' : `${r.p99Ms.toFixed(1)} ms`);
  const { heavy, light } = report;
  return [
    `${light.model} at ${light.offeredRps} req/s (${light.classes.map((c) => `${c.name} ${c.budgetMs ?? '-'} ms`).join(', ')}):`,
    `  alone:                       attainment ${pct(light.alone)}, p99 ${p99(light.alone)}, ${light.alone.okCount}/${light.alone.count} ok`,
    `  beside ${heavy.model} at ${heavy.offeredRps} req/s: attainment ${pct(light.shared)}, p99 ${p99(light.shared)}, ${light.shared.okCount}/${light.shared.count} ok`,
    `${heavy.model} pinned to ${heavy.pinned} (capacity ${heavy.capacityRps} req/s) flooded at ${heavy.offeredRps} req/s (${heavy.sentRps} sent): ${heavy.shared.okCount}/${heavy.shared.count} ok, ${heavy.shared.refusedCount} refused`,
    `attainment drop: ${report.attainmentDropPoints.toFixed(2)} points (target <= ${FAIRNESS_TOLERANCE_POINTS}): ${report.met ? 'met' : 'MISSED'}`,
  ].join('\n');
}

// The flooded and the light model: --models HEAVY,LIGHT, or the first two the server lists.
async function pickModels(api: ApiClient, wanted: readonly string[] | undefined): Promise<[string, string]> {
  const names = await api.modelNames();
  if (wanted !== undefined) {
    const missing = wanted.filter((m) => !names.includes(m));
    if (missing.length > 0)
      throw new Error(`not served: ${missing.join(', ')} (served: ${names.join(', ')})`);
    return [wanted[0]!, wanted[1]!];
  }
  if (names.length < 2) {
    throw new Error(
      `the fairness test needs two models and the server serves ${names.length} (${names.join(', ')}): serve a repository root (--supernet ROOT)`,
    );
  }
  return [names[0]!, names[1]!];
}

function resolveUri(supernet: string): string {
  return /^[a-z0-9]+:\/\//i.test(supernet) ? supernet : resolve(supernet);
}

// One traffic class of the test: a latency budget, or none.
function budgetClass(name: string, budgetMs: number | undefined): TrafficClass {
  return {
    name,
    latencyBudgetMs: budgetMs,
    memoryBudgetMb: undefined,
    weight: 1,
    inSlo: budgetMs !== undefined,
    headers: budgetMs === undefined ? {} : { 'latency-budget-ms': String(budgetMs) },
  };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
