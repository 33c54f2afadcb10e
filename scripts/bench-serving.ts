// Prints what serving costs on top of the engine, how fast selection is, and how long start-up takes.
//
//   npm run bench:serving                   # the bundled default supernet, or a fixture while it is missing
//   SUPERNET_URI=/path/to/model npm run bench:serving
//
// Figures only (medians of repeated runs); no pass/fail. The machine is shared: compare ratios within one run.

import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp, type ServingApp } from '../serving/app.ts';
import { median } from '../serving/calibrate-latency.ts';
import {
  BUNDLED_DEFAULT_MODEL,
  DEFAULT_SUPERNET_URI,
  loadConfig,
  type ServingConfig,
} from '../serving/config.ts';
import { selectOperatingPoint } from '../serving/select-operating-point.ts';
import { FileStore } from '../src/storage/file-store.ts';
import type { ObjectStore } from '../src/storage/object-store.ts';
import type { S3StoreOptions } from '../src/storage/s3-store.ts';

const USAGE =
  'usage: [SUPERNET_URI=...] [BENCH_REQUESTS=2000] [BENCH_STARTS=3] npm run bench:serving (no arguments)';
const TEXT =
  'I went in expecting little and came out moved: the acting is restrained, the script sharp, and the ' +
  'ending earns every tear, even if the middle drags a little and the score is too loud at times.';

// Requests sent before the overhead is measured: the server's code is compiled by V8 as it runs, and a server
// in service has answered far more than this; figures over the first hundred requests measure the compiler.
const WARMUP_REQUESTS = 500;
// The targets for the server's share, in ms: Server-Timing inference within this much of the raw engine call, and
// server time outside queue and engine under it.
const SHARE_TARGET_MS = 0.15;

// How many requests each overhead measurement sends and how many start-ups are timed.
export interface BenchCounts {
  requests: number;
  starts: number;
}

// BENCH_REQUESTS and BENCH_STARTS: positive integers, or a one-line refusal.
export function readBenchCounts(env: Record<string, string | undefined>): BenchCounts {
  return { requests: countFrom(env, 'BENCH_REQUESTS', 2000), starts: countFrom(env, 'BENCH_STARTS', 3) };
}

function countFrom(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new UsageError(`${name} must be an integer from 1 to 1000000, not '${raw}'`);
  }
  return value;
}

class UsageError extends Error {}

// Runs the whole benchmark and prints its figures.
export async function benchOverhead(counts: BenchCounts): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const source = await chooseArtifact(cleanups);
    console.log(`supernet: ${source.uri} (${source.kind})`);
    console.log(
      `host: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );

    // First, while this process has built no other app: its memory before and after are the model's.
    await residentMemory(source.uri);
    await timeToReady(counts.starts, 'folder', { SUPERNET_URI: source.uri });
    await timeToReadyFromS3(counts.starts, source, cleanups);

    // The engine call in process is the reference for both: with workers, what it adds is the server's share.
    const engine = await overhead(counts.requests, source.uri, '0');
    await overhead(counts.requests, source.uri, '2', engine);
    await selectionTime(source.uri);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
}

interface ArtifactChoice {
  uri: string;
  kind: 'bundled default' | 'fixture';
  store: ObjectStore;
  modelFolder: string;
}

// The bundled sentiment model when it exists (or SUPERNET_URI), else the test fixture published to a temp folder.
async function chooseArtifact(cleanups: Array<() => Promise<void>>): Promise<ArtifactChoice> {
  const wanted = process.env.SUPERNET_URI ?? join(DEFAULT_SUPERNET_URI, BUNDLED_DEFAULT_MODEL);
  const store = new FileStore(wanted);
  if ((await store.stat('LATEST')) || (await store.stat('manifest.json'))) {
    return { uri: wanted, kind: 'bundled default', store, modelFolder: wanted };
  }
  const { publishFixture, FIXTURE_MODEL } = await import('../test/serving/fixture.ts');
  const root = await mkdtemp(join(tmpdir(), 'bench-serving-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  await publishFixture(new FileStore(root), 'v1');
  const modelFolder = join(root, FIXTURE_MODEL);
  return { uri: modelFolder, kind: 'fixture', store: new FileStore(modelFolder), modelFolder };
}

// Builds the app as `npm start` would (server defaults) and times start to ready, `starts` times.
async function timeToReady(
  starts: number,
  label: string,
  env: Record<string, string>,
  s3?: S3StoreOptions,
): Promise<void> {
  const totals: number[] = [];
  const calibrations: number[] = [];
  for (let i = 0; i < starts; i++) {
    const config = loadConfig({ LOG_LEVEL: 'silent', RELOAD_INTERVAL_MS: '0', ...env });
    if (s3) config.s3 = s3;
    const started = performance.now();
    const app = await buildApp({ config, autoStart: false });
    await app.ready();
    const outcomes = await app.models.start();
    const readyMs = performance.now() - started;
    const waiting = app.models.notReady();
    if (waiting.length > 0) {
      throw new Error(`${label}: ${outcomes.join(', ')}: ${waiting.map((w) => w.reason).join('; ')}`);
    }
    totals.push(readyMs);
    const models = app.models.all.map((h) => h.model!);
    calibrations.push(models.reduce((sum, m) => sum + m.calibration.elapsedMs, 0));
    await app.close();
  }
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  console.log(
    `time to ready from ${label}: median ${median(totals).toFixed(0)} ms (runs ${totals.map((t) => t.toFixed(0)).join(', ')}; ` +
      `calibration ${median(calibrations).toFixed(0)} ms of it; ${config.inferenceWorkers} workers, CALIBRATION_MS ${config.calibrationMs})`,
  );
}

// Copies the artifact's current version to a local S3 server (test/helpers' s3rver, or S3_TEST_ENDPOINT) and
// times start to ready from it.
async function timeToReadyFromS3(
  starts: number,
  source: ArtifactChoice,
  cleanups: Array<() => Promise<void>>,
): Promise<void> {
  const { startTestS3 } = await import('../test/helpers/s3-server.ts');
  const s3 = await startTestS3();
  cleanups.push(() => s3.stop());
  const target = s3.makeStore('bench/model');
  const latest = await source.store.stat('LATEST');
  const version = latest ? new TextDecoder().decode(await source.store.read('LATEST')).trim() : undefined;
  const prefix = version === undefined ? '' : `${version}/`;
  for (const file of ['vocab.txt', 'weights.bin', 'manifest.json']) {
    await target.write(`${prefix}${file}`, await source.store.read(`${prefix}${file}`));
  }
  if (version !== undefined) await target.write('LATEST', new TextEncoder().encode(`${version}\n`));
  await timeToReady(starts, `S3 (${s3.kind})`, { SUPERNET_URI: target.uri }, s3.storeOptions);
}

// The process's resident memory once the model is ready with every operating point loaded (engine in process),
// against before it was built.
async function residentMemory(uri: string): Promise<void> {
  const before = process.memoryUsage().rss;
  const config = loadConfig({
    SUPERNET_URI: uri,
    LOG_LEVEL: 'silent',
    RELOAD_INTERVAL_MS: '0',
    CALIBRATION_MS: '100',
    INFERENCE_WORKERS: '0',
  });
  const app = await buildApp({ config, autoStart: false });
  try {
    await app.ready();
    await app.models.start();
    const model = benchedModel(app);
    const after = process.memoryUsage().rss;
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    console.log(
      `resident memory, engine in process, ${model.points.length} operating points loaded: ${mib(after - before)} MiB ` +
        `more than before the app (${mib(before)} -> ${mib(after)} MiB)`,
    );
  } finally {
    await app.close();
  }
}

// Serving overhead (HTTP, validation, selection, tokenizing, JSON) against the raw engine call, for the
// cheapest operating point, at the median. Returns the raw call's median in ms; `reference` is the in-process
// raw call the Server-Timing inference is held to (this run's own raw call when absent).
async function overhead(requests: number, uri: string, workers: string, reference?: number): Promise<number> {
  const config: ServingConfig = loadConfig({
    SUPERNET_URI: uri,
    LOG_LEVEL: 'silent',
    RELOAD_INTERVAL_MS: '0',
    CALIBRATION_MS: '300',
    INFERENCE_WORKERS: workers,
  });
  const app = await buildApp({ config, autoStart: false });
  try {
    await app.ready();
    await app.models.start();
    const model = benchedModel(app);
    const cheapest = [...model.points].sort(
      (a, b) => a.cost.flops(1, a.entry.tokens) - b.cost.flops(1, b.entry.tokens),
    )[0]!;
    const pieces = [model.tokenizer.encode(TEXT)];
    const batch = model.tokenizer.packPieces(pieces, {
      maxTokens: cheapest.entry.tokens,
      truncation: model.manifest.tokenizer.truncation,
    });
    const raw: number[] = [];
    for (let i = 0; i < requests + 50; i++) {
      const t0 = performance.now();
      await model.pool.run(0, cheapest.subnetIndex, batch);
      if (i >= 50) raw.push(performance.now() - t0);
    }
    // The same call after the thread has slept, as a request's call follows a wait on the socket: back to back,
    // caches stay warm and the call is faster than any served request can see.
    const rawAfterIdle: number[] = [];
    for (let i = 0; i < Math.min(requests, 300); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const t0 = performance.now();
      await model.pool.run(0, cheapest.subnetIndex, batch);
      rawAfterIdle.push(performance.now() - t0);
    }

    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ inputs: [TEXT] });
    const client: number[] = [];
    const serverTotal: number[] = [];
    const serverInference: number[] = [];
    const serverOther: number[] = [];
    for (let i = 0; i < requests + WARMUP_REQUESTS; i++) {
      const t0 = performance.now();
      const { status, timing } = await post(agent, port, `/v1/models/${model.name}/predict`, body, {
        'subnet-id': cheapest.id,
      });
      const ms = performance.now() - t0;
      if (status !== 200) throw new Error(`status ${status}`);
      if (i < WARMUP_REQUESTS) continue;
      client.push(ms);
      const [queue = 0, inference = 0, total = 0] = timing;
      serverTotal.push(total);
      serverInference.push(inference);
      serverOther.push(total - inference - queue);
    }
    agent.destroy();
    const engine = median(raw);
    const served = median(client);
    const inference = median(serverInference);
    const outside = median(serverOther);
    const against = reference ?? engine;
    const check = (ms: number) => (ms <= SHARE_TARGET_MS ? 'ok' : 'over');
    console.log(
      `overhead, ${workers === '0' ? 'engine in process' : `${workers} engine workers`}, cheapest point ${cheapest.id} (1 text, ${batch.tokens} tokens), ${requests} requests after ${WARMUP_REQUESTS}:\n` +
        `  raw engine call (pool.run)            median ${engine.toFixed(3)} ms\n` +
        `  raw engine call after 1 ms idle       median ${median(rawAfterIdle).toFixed(3)} ms\n` +
        `  HTTP round trip (keep-alive, client)   median ${served.toFixed(3)} ms  -> overhead ${(served - engine).toFixed(3)} ms (${(served / engine).toFixed(2)}x)\n` +
        `  Server-Timing total / inference        median ${median(serverTotal).toFixed(3)} / ${inference.toFixed(3)} ms\n` +
        `  inference - raw call in process        ${(inference - against).toFixed(3)} ms (target <= ${SHARE_TARGET_MS}) [${check(inference - against)}]\n` +
        `  server time outside queue and engine   ${outside.toFixed(3)} ms (target <= ${SHARE_TARGET_MS}) [${check(outside)}]`,
    );
    return engine;
  } finally {
    await app.close();
  }
}

// selectOperatingPoint alone, and with the queue estimate, over a spread of budgets.
async function selectionTime(uri: string): Promise<void> {
  const config = loadConfig({
    SUPERNET_URI: uri,
    LOG_LEVEL: 'silent',
    RELOAD_INTERVAL_MS: '0',
    CALIBRATION_MS: '0',
    INFERENCE_WORKERS: '0',
  });
  const app: ServingApp = await buildApp({ config, autoStart: false });
  try {
    await app.ready();
    await app.models.start();
    const model = benchedModel(app);
    const budgets = [undefined, 0.5, 1, 2, 5, 10, 50, 1e5];
    const requests = budgets.flatMap((latencyMs) =>
      [undefined, 64].flatMap((memoryMb) =>
        [undefined, 0.8].map((minAccuracy) => ({
          texts: 1 + (Math.round((latencyMs ?? 3) * 7) % 8),
          longest: 16 + (Math.round((latencyMs ?? 3) * 13) % 400),
          elapsedMs: 0.2,
          waitMs: 0,
          latencyMs,
          memoryBytes: memoryMb === undefined ? undefined : memoryMb * 1048576,
          minAccuracy,
          mode: 'best-effort' as const,
          pinned: undefined,
        })),
      ),
    );
    let sink = 0;
    const iterations = 200_000;
    for (let i = 0; i < 20_000; i++)
      sink += selectOperatingPoint(model.table, requests[i % requests.length]!).kind.length;
    let t0 = performance.now();
    for (let i = 0; i < iterations; i++)
      sink += selectOperatingPoint(model.table, requests[i % requests.length]!).kind.length;
    const selectUs = ((performance.now() - t0) * 1000) / iterations;
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) {
      const request = requests[i % requests.length]!;
      const waitMs = model.scheduler.expectedWaitMs(performance.now() + (request.latencyMs ?? 1e4));
      sink += selectOperatingPoint(model.table, { ...request, waitMs }).kind.length;
    }
    const withQueueUs = ((performance.now() - t0) * 1000) / iterations;
    // `sink` keeps the loops from being optimized away.
    console.log(
      `selection over ${model.points.length} operating points: ${selectUs.toFixed(2)} us per request; ` +
        `with the queue estimate: ${withQueueUs.toFixed(2)} us (target < 50 us) [${sink > 0 ? 'ok' : '?'}]`,
    );
  } finally {
    await app.close();
  }
}

function post(
  agent: Agent,
  port: number,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; timing: number[] }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const timing = [...String(res.headers['server-timing']).matchAll(/dur=([\d.]+)/g)].map((m) =>
            Number(m[1]),
          );
          resolve({ status: res.statusCode ?? 0, timing });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.length > 2) {
    process.stderr.write(
      `error: bench:serving takes no arguments (${process.argv.slice(2).join(' ')})\n${USAGE}\n`,
    );
    process.exit(2);
  }
  let counts: BenchCounts;
  try {
    counts = readBenchCounts(process.env);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  await benchOverhead(counts);
}

// The model the request-path figures are measured on: the bundled sentiment model when served, else the one served.
function benchedModel(app: Awaited<ReturnType<typeof buildApp>>) {
  const host = app.models.host('imdb-sentiment') ?? app.models.all[0];
  if (!host?.model) throw new Error('no model is loaded');
  return host.model;
}
