// Benchmarks the engines on the catalog's subnets, in fp32 and int8:
//   npm run bench -- [--artifact URI] [--json FILE] [--quick] [--threads N] [--form plain|fused|both]
// Prints a table (progress on stderr) and, with --json, writes the figures. --form picks the onnx graph form
// (buildOnnxGraph; default fused, the engine's), `both` times the two in the same rounds. Without --artifact it runs a
// random-weight supernet of the default shape and a catalog spanning full size down to ~1/16 of the FLOPs.
// Every ratio it prints is measured in this run; engines are timed in alternating rounds, medians reported.
// When python3 has torch (Debian: apt-get install python3-torch), the full subnet is also timed in PyTorch
// (scripts/bench-torch.py, OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to --threads) as a peer.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { readSupernetAt } from '../src/artifact/read-supernet.ts';
import { selectBackend } from '../src/backend/select-backend.ts';
import { describeIssues } from '../src/describe-issues.ts';
import { GRAPH_FORMS, type GraphForm } from '../src/engine/build-onnx-graph.ts';
import type { Engine, EngineName, LoadedSubnet } from '../src/engine/engine.ts';
import { OnnxEngine } from '../src/engine/onnx-engine.ts';
import { SubnetCache } from '../src/engine/subnet-cache.ts';
import { TfjsEngine } from '../src/engine/tfjs-engine.ts';
import { countFlops, countParams } from '../src/model/accounting.ts';
import {
  encoderForm,
  formatSubnetId,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../src/model/config.ts';
import { Rng } from '../src/model/random.ts';
import { sliceSubnetWeights } from '../src/model/slice-subnet-weights.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import { openStore } from '../src/storage/open-store.ts';
import { s3OptionsFromEnv } from '../src/storage/s3-options-from-env.ts';
import { DEFAULT_SHAPE, randomSupernetWeights } from '../test/helpers/random-weights.ts';

const USAGE =
  'usage: npm run bench -- [--artifact URI] [--json FILE] [--quick] [--threads N] [--form plain|fused|both]';

const SHAPES: ReadonlyArray<readonly [number, number]> = [
  [1, 32],
  [1, 128],
  [8, 32],
  [8, 128],
];
const ENGINES: readonly EngineName[] = ['onnx', 'tfjs'];

// What a subnet is timed on: an engine, a precision and, on onnx, a graph form.
interface Variant {
  engine: EngineName;
  precision: Precision;
  form: GraphForm | null;
}

// onnx in fp32 and int8 in each form asked for, then tfjs. tfjs has no int8 kernels (it simulates int8 in float32,
// at fp32 speed): not timed.
export function benchVariants(forms: readonly GraphForm[]): Variant[] {
  return [
    ...forms.flatMap((form) =>
      (['fp32', 'int8'] as const).map((precision) => ({ engine: 'onnx' as const, precision, form })),
    ),
    { engine: 'tfjs', precision: 'fp32', form: null },
  ];
}

// A variant's name in the table and the report: `onnx`, `onnx-int8`, `onnx-plain`, `onnx-plain-int8`, `tfjs`.
function variantName(v: Variant, forms: readonly GraphForm[]): string {
  const form = v.form !== null && forms.length > 1 ? `-${v.form}` : '';
  return `${v.engine}${form}${v.precision === 'fp32' ? '' : `-${v.precision}`}`;
}
// The shapes the PyTorch peer and the int8/fp32 ratios are reported at.
const RATIO_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [1, 32],
  [1, 128],
];
// CPU flags that decide GEMM speed: fp32 vector width and FMA, int8 dot products (VNNI, AMX, Arm dotprod, i8mm).
const GEMM_FLAGS = [
  'fma',
  'avx2',
  'avx512f',
  'avx512bw',
  'avx512_vnni',
  'avx_vnni',
  'amx_int8',
  'asimd',
  'asimddp',
  'i8mm',
  'sve',
];

// The command line, parsed once.
export const BenchArgsSchema = z
  .object({
    artifact: z.string().min(1).optional(),
    json: z.string().min(1).optional(),
    quick: z.boolean().default(false),
    threads: z.coerce.number().int().min(1).max(64).default(1),
    form: z.enum([...GRAPH_FORMS, 'both']).default('fused'),
  })
  .strict();
export type BenchArgs = z.output<typeof BenchArgsSchema>;

// --name value / --flag pairs into an object for BenchArgsSchema.
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const raw: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = /^--([a-z]+)$/.exec(arg)?.[1];
    if (!name) throw new UsageError(`unexpected argument '${arg}'`);
    if (!Object.hasOwn(BenchArgsSchema.shape, name)) throw new UsageError(`unknown option --${name}`);
    if (name === 'quick') raw.quick = true;
    else {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      raw[name] = value;
    }
  }
  const parsed = BenchArgsSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(describeIssues(parsed.error, (path) => `--${path.join('.')}`));
  return parsed.data;
}

class UsageError extends Error {}

// One timed row of the table.
export interface BenchRow {
  subnet: string;
  engine: EngineName;
  precision: Precision;
  // The onnx graph form; null on tfjs.
  form: GraphForm | null;
  batch: number;
  tokens: number;
  flops: number;
  p50Ms: number;
  p90Ms: number;
  gflops: number;
  memoryBytes: number;
  // Median CPU time of the process per call (see Timings).
  cpuP50Ms: number;
}

interface Settings {
  minReps: number;
  maxReps: number;
  // Time per (subnet, shape, engine) cell.
  targetMs: number;
  rounds: number;
  longLoopCalls: number;
  switches: number;
}

const FULL: Settings = {
  minReps: 10,
  maxReps: 400,
  targetMs: 1500,
  rounds: 5,
  longLoopCalls: 10_000,
  switches: 10,
};
const QUICK: Settings = {
  minReps: 3,
  maxReps: 100,
  targetMs: 250,
  rounds: 3,
  longLoopCalls: 2_000,
  switches: 4,
};

// A catalog spanning the supernet: full size, then narrower and shallower down to ~1/16 of the FLOPs.
export function defaultBenchCatalog(config: SupernetConfig): SubnetConfig[] {
  const shape = (depth: number, heads: number, ffn: number): SubnetConfig => ({
    layers: Array.from({ length: Math.max(1, Math.round(depth)) }, (_, layer) => ({
      layer,
      heads: Math.max(1, Math.round(heads)),
      ffn: Math.max(1, Math.round(ffn)),
    })),
  });
  const { maxLayers: l, maxHeads: h, maxFfn: f } = config;
  const all = [
    shape(l, h, f),
    shape(l, h / 2, f / 2),
    shape((l * 3) / 4, h / 2, f / 2),
    shape(l / 2, h / 2, f / 2),
    shape(l / 2, h / 4, f / 4),
    shape(1, h / 4, f / 4),
  ];
  const ids = new Set<string>();
  return all.filter((s) => !ids.has(formatSubnetId(s)) && ids.add(formatSubnetId(s)));
}

function fullBatch(config: SupernetConfig, rng: Rng, batch: number, tokens: number): TokenBatch {
  const ids = new Int32Array(batch * tokens);
  for (let i = 0; i < ids.length; i++) ids[i] = 1 + rng.int(config.vocabSize - 1);
  return { batch, tokens, ids, mask: new Int32Array(batch * tokens).fill(1) };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const median = (values: readonly number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

// Wall and CPU milliseconds of each call. CPU time (the process's, all threads) leaves out the time the call
// spent preempted by other processes: on a shared machine it is the steadier measure of the work done.
interface Timings {
  wall: number[];
  cpu: number[];
}

// Times each call in alternating rounds so that background load hits every one alike.
async function timeAlternating(
  calls: Record<string, () => Promise<unknown>>,
  settings: Settings,
): Promise<Record<string, Timings>> {
  const times: Record<string, Timings> = {};
  const reps: Record<string, number> = {};
  for (const [name, call] of Object.entries(calls)) {
    await call(); // warm-up: first-call allocations and kernel selection
    const t0 = performance.now();
    await call();
    const estimate = Math.max(performance.now() - t0, 0.01);
    reps[name] = Math.min(
      settings.maxReps,
      Math.max(settings.minReps, Math.ceil(settings.targetMs / estimate)),
    );
    times[name] = { wall: [], cpu: [] };
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (const [name, call] of Object.entries(calls)) {
      const n = Math.ceil(reps[name]! / settings.rounds);
      for (let i = 0; i < n; i++) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await call();
        times[name]!.wall.push(performance.now() - t0);
        const cpu = process.cpuUsage(cpu0);
        times[name]!.cpu.push((cpu.user + cpu.system) / 1000);
      }
    }
  }
  return times;
}

// The best GFLOP/s of a square MatMul on onnxruntime with `threads` threads: the machine's measured peak.
async function measurePeakGflops(threads: number, settings: Settings): Promise<number> {
  const ort = await import('onnxruntime-node');
  const { onnx } = onnxProto;
  let best = 0;
  for (const n of [512, 1024]) {
    const tensorType = {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: [{ dimValue: n }, { dimValue: n }] },
    };
    const model = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 9,
        opsetImport: [{ domain: '', version: 20 }],
        graph: {
          name: 'peak',
          node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }],
          input: ['a', 'b'].map((name) => ({ name, type: { tensorType } })),
          output: [{ name: 'c', type: { tensorType } }],
        },
      }),
    ).finish();
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads });
    const data = new Float32Array(n * n);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    const a = new ort.Tensor('float32', data, [n, n]);
    const feeds = { a, b: a };
    const reps = settings === QUICK ? 5 : 15;
    await session.run(feeds);
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      best = Math.max(best, (2 * n ** 3) / ((performance.now() - t0) * 1e6));
    }
    await session.release();
  }
  return best;
}

// Progress on stderr: one rewritten line on a terminal, a line per step otherwise.
function progress(total: number): (what: string) => void {
  let done = 0;
  const started = performance.now();
  return (what) => {
    done++;
    const line = `[${done}/${total}] ${((performance.now() - started) / 1000).toFixed(0)}s ${what}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${done === total ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

async function load(
  engine: Engine,
  config: SupernetConfig,
  weights: WeightTensor[],
  subnet: SubnetConfig,
  precision: Precision = 'fp32',
) {
  return engine.load(config, subnet, sliceSubnetWeights(config, weights, subnet), precision);
}

// The CPU's model and its GEMM-relevant flags (Linux /proc/cpuinfo; os.cpus() elsewhere, without flags).
export function describeCpu(cpuinfo?: string): { model: string; flags: string[] } {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const model = field('model name') ?? os.cpus()[0]?.model ?? 'unknown';
  const all = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/));
  return { model, flags: GEMM_FLAGS.filter((f) => all.has(f)) };
}

// The PyTorch peer: the full subnet at RATIO_SHAPES, or why it was skipped.
export type TorchPeer =
  | {
      torch: string;
      threads: number;
      blas: string[];
      rows: Array<{ batch: number; tokens: number; p50Ms: number; p90Ms: number; reps: number }>;
    }
  | { skipped: string };

function runTorchPeer(
  config: SupernetConfig,
  subnet: SubnetConfig,
  threads: number,
  settings: Settings,
  env: Record<string, string | undefined>,
): TorchPeer {
  if (encoderForm(config) !== 'pre-ln' || config.typeVocabSize !== undefined) {
    return { skipped: 'the PyTorch peer models the pre-LayerNorm single-text form only' };
  }
  const spec = {
    vocab: config.vocabSize,
    hidden: config.hiddenSize,
    headSize: config.headSize,
    maxTokens: config.maxTokens,
    labels: config.numLabels,
    threads,
    layers: subnet.layers.map((l) => ({ heads: l.heads, ffn: l.ffn })),
    shapes: RATIO_SHAPES.filter(([, t]) => t <= config.maxTokens),
    targetMs: settings.targetMs,
  };
  const script = fileURLToPath(new URL('./bench-torch.py', import.meta.url));
  // The first python3 on PATH may be another install than the system one that Debian's python3-torch serves.
  let why = 'python3 did not run';
  for (const python of ['python3', '/usr/bin/python3']) {
    // OpenBLAS sizes its own pool from these, read when torch loads: set them for the child, not after.
    const result = spawnSync(python, [script, JSON.stringify(spec)], {
      env: { ...env, OPENBLAS_NUM_THREADS: `${threads}`, OMP_NUM_THREADS: `${threads}` },
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (result.error) {
      why = `${python} did not run (${result.error.message})`;
    } else if (result.status === 0) {
      return JSON.parse(result.stdout) as TorchPeer;
    } else if (/No module named 'torch'/.test(result.stderr)) {
      why = 'python3 has no torch (Debian: apt-get install python3-torch)';
    } else {
      return { skipped: `bench-torch.py failed: ${result.stderr.trim().split('\n').at(-1)}` };
    }
  }
  return { skipped: why };
}

// Runs the whole benchmark and returns its report.
export async function runBench(args: BenchArgs, env: Record<string, string | undefined>) {
  const settings = args.quick ? QUICK : FULL;
  const backend = await selectBackend('wasm');
  let config = DEFAULT_SHAPE;
  let weights: WeightTensor[];
  let catalog: SubnetConfig[];
  let source = 'random weights, default shape';
  if (args.artifact) {
    const loaded = await readSupernetAt(openStore(args.artifact, { s3: s3OptionsFromEnv(env) }));
    config = loaded.manifest.architecture;
    weights = [...loaded.weights.values()];
    const ids = new Set<string>();
    catalog = loaded.manifest.catalog
      .map((e) => e.subnet)
      .filter((s) => !ids.has(formatSubnetId(s)) && ids.add(formatSubnetId(s)));
    if (catalog.length === 0) catalog = defaultBenchCatalog(config);
    source = `${loaded.manifest.model}/${loaded.manifest.version}`;
  } else {
    weights = randomSupernetWeights(config, 1);
    catalog = defaultBenchCatalog(config);
  }
  catalog.sort((a, b) => countFlops(config, b, 1, 128) - countFlops(config, a, 1, 128));
  const shapes = SHAPES.filter(([, t]) => t <= config.maxTokens);
  const forms: GraphForm[] = args.form === 'both' ? ['fused', 'plain'] : [args.form];
  const variants = benchVariants(forms);
  const onnxByForm = Object.fromEntries(
    forms.map((form) => [form, new OnnxEngine({ intraOpThreads: args.threads, graphForm: form })]),
  ) as Partial<Record<GraphForm, OnnxEngine>>;
  const engineOf = (v: Variant): Engine => (v.form === null ? engines.tfjs : onnxByForm[v.form]!);
  // Switches and the long loop run the first form.
  const engines: Record<EngineName, Engine> = {
    onnx: onnxByForm[forms[0]!]!,
    tfjs: new TfjsEngine(),
  };
  const loadAverageBefore = os.loadavg();
  const step = progress(2 + shapes.length + 5);
  const ortVersion = await OnnxEngine.runtimeVersion();

  const peakByThreads: Record<number, number> = {};
  for (const threads of [...new Set([1, args.threads])]) {
    peakByThreads[threads] = await measurePeakGflops(threads, settings);
  }
  step('peak GFLOP/s');

  // Every subnet resident on both engines (and in int8 on onnx), so that each shape times all of them in the
  // same rounds: a burst of background load then hits every subnet and engine alike, and the ratios stay honest.
  const rng = new Rng(2);
  const loadMs: Array<{ subnet: string; engine: EngineName; loadMs: number }> = [];
  const resident: Array<Variant & { subnet: SubnetConfig; loaded: LoadedSubnet }> = [];
  for (const subnet of catalog) {
    for (const v of variants) {
      const t0 = performance.now();
      const loaded = await load(engineOf(v), config, weights, subnet, v.precision);
      loadMs.push({ subnet: loaded.id, engine: v.engine, loadMs: performance.now() - t0 });
      resident.push({ ...v, subnet, loaded });
    }
  }
  step('load every subnet on both engines, int8 on onnx');
  const rows: BenchRow[] = [];
  for (const [batch, tokens] of shapes) {
    const input = fullBatch(config, rng, batch, tokens);
    const times = await timeAlternating(
      Object.fromEntries(resident.map((r, i) => [i, () => r.loaded.run(input)])),
      settings,
    );
    resident.forEach((r, i) => {
      const sorted = times[i]!.wall.sort((a, b) => a - b);
      const p50Ms = quantile(sorted, 0.5);
      const flops = countFlops(config, r.subnet, batch, tokens);
      rows.push({
        subnet: r.loaded.id,
        engine: r.engine,
        precision: r.precision,
        form: r.form,
        batch,
        tokens,
        flops,
        p50Ms,
        p90Ms: quantile(sorted, 0.9),
        gflops: flops / (p50Ms * 1e6),
        memoryBytes: r.loaded.memoryBytes,
        cpuP50Ms: median(times[i]!.cpu),
      });
    });
    step(`${batch}x${tokens}, ${catalog.length} subnets x ${variants.length} engine precisions`);
  }
  for (const r of resident) await r.loaded.dispose();
  const order = (row: BenchRow) =>
    resident.findIndex((r) => r.loaded.id === row.subnet && r.engine === row.engine && r.form === row.form);
  rows.sort((a, b) => order(a) - order(b) || a.batch - b.batch || a.tokens - b.tokens);

  // Fixed per-call overhead: the smallest subnet on one text of 16 tokens, a whole engine call.
  const smallest = catalog.at(-1)!;
  const overhead: Record<string, { p50Ms: number; p90Ms: number; cpuP50Ms: number }> = {};
  {
    const names = variants.map((v) => variantName(v, forms));
    const loaded = await Promise.all(
      variants.map((v) => load(engineOf(v), config, weights, smallest, v.precision)),
    );
    const input = fullBatch(config, rng, 1, Math.min(16, config.maxTokens));
    const times = await timeAlternating(
      Object.fromEntries(names.map((name, i) => [name, () => loaded[i]!.run(input)])),
      { ...settings, minReps: 200, maxReps: 5000 },
    );
    for (const name of names) {
      const sorted = times[name]!.wall.sort((a, b) => a - b);
      overhead[name] = {
        p50Ms: quantile(sorted, 0.5),
        p90Ms: quantile(sorted, 0.9),
        cpuP50Ms: median(times[name]!.cpu),
      };
    }
    await Promise.all(loaded.map((l) => l.dispose()));
  }
  step('per-call overhead');

  const torch = runTorchPeer(config, catalog[0]!, args.threads, settings, env);
  step('torch' in torch ? `PyTorch ${torch.torch} peer` : `PyTorch peer skipped: ${torch.skipped}`);

  // Switch cost: a cache that holds one subnet, alternating the largest and the smallest.
  const switches: Array<{ subnet: string; engine: EngineName; p50Ms: number; maxMs: number }> = [];
  for (const name of ENGINES) {
    const largest = catalog[0]!;
    const cache = new SubnetCache({
      engine: engines[name],
      config,
      supernetWeights: weights,
      // Room for either subnet, never both: every request is a switch.
      budget: (countParams(config, largest) + countParams(config, smallest)) * 4 - 1,
    });
    const per: Record<string, number[]> = { [formatSubnetId(largest)]: [], [formatSubnetId(smallest)]: [] };
    const input = fullBatch(config, rng, 1, Math.min(16, config.maxTokens));
    for (let i = 0; i < settings.switches * 2; i++) {
      const subnet = i % 2 === 0 ? largest : smallest;
      await cache.run(subnet, input);
      per[formatSubnetId(subnet)]!.push(cache.stats().lastLoadMs ?? Number.NaN);
    }
    for (const [id, values] of Object.entries(per)) {
      switches.push({ subnet: id, engine: name, p50Ms: median(values), maxMs: Math.max(...values) });
    }
    await cache.dispose();
  }
  step('subnet switches');

  // Memory over a long loop of the smallest subnet with varying shapes (onnx), tensors (tfjs).
  const memory = await longLoop(engines, config, weights, smallest, settings.longLoopCalls, rng);
  step(`memory over ${settings.longLoopCalls} calls`);

  // The peak again at the end: the best of both measures, so that a burst of load at the start does not set it.
  for (const threads of Object.keys(peakByThreads).map(Number)) {
    peakByThreads[threads] = Math.max(peakByThreads[threads]!, await measurePeakGflops(threads, settings));
  }
  step('peak GFLOP/s again');
  const cpu = describeCpu();

  return {
    machine: {
      cpu: cpu.model,
      cpuFlags: cpu.flags,
      cores: os.availableParallelism(),
      node: process.version,
      onnxruntime: ortVersion,
      tfjsBackend: backend.tfBackend,
      onnxIntraOpThreads: args.threads,
      loadAverageBefore,
      loadAverageAfter: os.loadavg(),
    },
    supernet: { source, config },
    settings: { quick: args.quick, ...settings },
    forms,
    peakGflops: peakByThreads[args.threads]!,
    peakGflopsByThreads: peakByThreads,
    rows,
    torch,
    ratios: forms.flatMap((form) => benchRatios(rows, catalog[0]!, torch, form)),
    loadMs,
    overhead,
    switches,
    memory,
  };
}

async function longLoop(
  engines: Record<EngineName, Engine>,
  config: SupernetConfig,
  weights: WeightTensor[],
  subnet: SubnetConfig,
  calls: number,
  rng: Rng,
) {
  const shapes = Array.from({ length: 64 }, () => {
    const tokens = 2 + rng.int(Math.min(128, config.maxTokens) - 1);
    return fullBatch(config, rng, 1 + rng.int(4), tokens);
  });
  const onnx = await load(engines.onnx, config, weights, subnet);
  for (const input of shapes) await onnx.run(input); // every shape once before the first reading
  globalThis.gc?.();
  const rssBeforeBytes = process.memoryUsage().rss;
  for (let i = 0; i < calls; i++) await onnx.run(shapes[i % shapes.length]!);
  globalThis.gc?.();
  const rssAfterBytes = process.memoryUsage().rss;
  await onnx.dispose();

  const tfjs = await load(engines.tfjs, config, weights, subnet);
  const tensorsBefore = tf.memory().numTensors;
  const tfjsCalls = Math.min(Math.ceil(calls / 10), 1000);
  for (let i = 0; i < tfjsCalls; i++) await tfjs.run(shapes[i % shapes.length]!);
  const tensorsAfter = tf.memory().numTensors;
  await tfjs.dispose();
  return {
    onnx: { calls, distinctShapes: shapes.length, rssBeforeBytes, rssAfterBytes },
    tfjs: { calls: tfjsCalls, tensorsBefore, tensorsAfter },
  };
}

// The full subnet's onnx fp32 time over PyTorch's, and onnx int8 over onnx fp32, at RATIO_SHAPES, in one form.
function benchRatios(rows: readonly BenchRow[], full: SubnetConfig, torch: TorchPeer, form: GraphForm) {
  const id = formatSubnetId(full);
  const at = (precision: Precision, batch: number, tokens: number) =>
    rows.find(
      (r) =>
        r.engine === 'onnx' &&
        r.form === form &&
        r.precision === precision &&
        r.subnet.replace(/-int8$/, '') === id &&
        r.batch === batch &&
        r.tokens === tokens,
    );
  return RATIO_SHAPES.flatMap(([batch, tokens]) => {
    const fp32 = at('fp32', batch, tokens);
    const int8 = at('int8', batch, tokens);
    if (!fp32 || !int8) return [];
    const peer =
      'rows' in torch ? torch.rows.find((r) => r.batch === batch && r.tokens === tokens) : undefined;
    return [
      {
        subnet: id,
        form,
        batch,
        tokens,
        onnxFp32Ms: fp32.p50Ms,
        onnxInt8Ms: int8.p50Ms,
        torchMs: peer?.p50Ms ?? null,
        onnxFp32OverTorch: peer ? fp32.p50Ms / peer.p50Ms : null,
        int8OverFp32: int8.p50Ms / fp32.p50Ms,
      },
    ];
  });
}

export type BenchReport = Awaited<ReturnType<typeof runBench>>;

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)}`;

// The FLOPs of a ratio's row (the full subnet at its shape).
function countFlopsOf(report: BenchReport, r: { batch: number; tokens: number; subnet: string }): number {
  return report.rows.find(
    (row) => row.subnet === r.subnet && row.batch === r.batch && row.tokens === r.tokens,
  )!.flops;
}

// The report as text: the table, then the targets' figures.
export function formatReport(report: BenchReport): string {
  const lines: string[] = [];
  const m = report.machine;
  lines.push(
    `${m.cpu}, ${m.cores} cores, node ${m.node}, onnxruntime ${m.onnxruntime} (${m.onnxIntraOpThreads} thread(s)), tfjs ${m.tfjsBackend}`,
  );
  lines.push(`CPU flags for GEMM: ${m.cpuFlags.join(' ') || '(none found)'}`);
  lines.push(
    `load average before ${m.loadAverageBefore.map((v) => v.toFixed(2)).join(' ')}, after ${m.loadAverageAfter.map((v) => v.toFixed(2)).join(' ')}; supernet: ${report.supernet.source}`,
  );
  lines.push(
    `peak (best square MatMul, 512 and 1024, on onnxruntime, measured at start and end): ${Object.entries(
      report.peakGflopsByThreads,
    )
      .map(([t, g]) => `${g.toFixed(1)} GFLOP/s on ${t} thread(s)`)
      .join(', ')}`,
  );
  lines.push('');
  const header = [
    'subnet',
    'engine',
    'precision',
    'shape',
    'GFLOP',
    'p50 ms',
    'p90 ms',
    'cpu ms',
    'GFLOP/s',
    '% peak',
    'lat/full',
    'flop/full',
    'MiB',
  ];
  const table: string[][] = [header];
  for (const row of report.rows) {
    const full = report.rows.find(
      (r) =>
        r.engine === row.engine &&
        r.form === row.form &&
        r.precision === row.precision &&
        r.batch === row.batch &&
        r.tokens === row.tokens,
    )!;
    table.push([
      row.subnet,
      row.form === null ? row.engine : `${row.engine} ${row.form}`,
      row.precision,
      `${row.batch}x${row.tokens}`,
      (row.flops / 1e9).toFixed(3),
      row.p50Ms.toFixed(2),
      row.p90Ms.toFixed(2),
      row.cpuP50Ms.toFixed(2),
      row.gflops.toFixed(1),
      // The peak is an fp32 GEMM's: int8 rows (integer ops at another rate) have none to compare with.
      row.engine === 'onnx' && row.precision === 'fp32'
        ? `${((100 * row.gflops) / report.peakGflops).toFixed(0)}%`
        : '',
      (row.p50Ms / full.p50Ms).toFixed(3),
      (row.flops / full.flops).toFixed(3),
      mb(row.memoryBytes),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table)
    lines.push(r.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  lines.push('');

  const first = report.rows[0]!;
  const at = (engine: EngineName, batch: number, tokens: number) =>
    report.rows.find(
      (r) =>
        r.subnet === first.subnet &&
        r.engine === engine &&
        r.form === (engine === 'onnx' ? report.forms[0] : null) &&
        r.precision === 'fp32' &&
        r.batch === batch &&
        r.tokens === tokens,
    );
  const onnx1 = at('onnx', 1, 128);
  const tfjs1 = at('tfjs', 1, 128);
  if (onnx1 && tfjs1) {
    lines.push(
      `full subnet 1x128: onnx ${report.forms[0]} ${onnx1.p50Ms.toFixed(2)} ms, tfjs ${tfjs1.p50Ms.toFixed(2)} ms: onnx ${(tfjs1.p50Ms / onnx1.p50Ms).toFixed(1)}x faster (target >= 5x); onnx at ${((100 * onnx1.gflops) / report.peakGflops).toFixed(0)}% of measured peak (target >= 25%)`,
    );
  }
  // Latency ratio over FLOP ratio for subnets down to 1/8 of the full FLOPs (target: within 30%), on wall
  // time and on CPU time (the latter unaffected by preemption from other processes).
  for (const variant of benchVariants(report.forms)) {
    const { engine, precision, form } = variant;
    const fullId = precision === 'fp32' ? first.subnet : `${first.subnet}-${precision}`;
    for (const measure of ['p50Ms', 'cpuP50Ms'] as const) {
      const parts: string[] = [];
      let worst = 0;
      for (const row of report.rows) {
        if (
          row.engine !== engine ||
          row.form !== form ||
          row.precision !== precision ||
          row.subnet === fullId
        )
          continue;
        const full = report.rows.find(
          (r) =>
            r.engine === engine &&
            r.form === form &&
            r.precision === precision &&
            r.batch === row.batch &&
            r.tokens === row.tokens,
        )!;
        const flopRatio = row.flops / full.flops;
        if (flopRatio < 1 / 8 - 1e-9) continue;
        const off = row[measure] / full[measure] / flopRatio - 1;
        if (Math.abs(off) > Math.abs(worst)) worst = off;
        if (row.batch === 1 && row.tokens === 128) parts.push(`${row.subnet} ${(100 * off).toFixed(0)}%`);
      }
      lines.push(
        `${variantName(variant, report.forms)} ${measure === 'p50Ms' ? 'wall' : 'cpu'}: latency ratio / FLOP ratio - 1 (subnets >= 1/8 FLOPs): worst over all shapes ${(100 * worst).toFixed(0)}% (target within 30%); at 1x128: ${parts.join(', ')}`,
      );
    }
  }
  const torch = report.torch;
  lines.push(
    'torch' in torch
      ? `PyTorch ${torch.torch} peer (${torch.threads} thread(s), BLAS ${torch.blas.map((b) => b.split('/').at(-1)).join(', ') || 'unknown'}): ${torch.rows.map((r) => `${r.batch}x${r.tokens} ${r.p50Ms.toFixed(2)} ms`).join(', ')}`
      : `PyTorch peer skipped: ${torch.skipped}`,
  );
  for (const r of report.ratios) {
    lines.push(
      `full subnet ${r.batch}x${r.tokens}: onnx ${r.form} fp32 ${r.onnxFp32Ms.toFixed(2)} ms (${((100 * countFlopsOf(report, r)) / (r.onnxFp32Ms * 1e6 * report.peakGflops)).toFixed(0)}% of peak), int8 ${r.onnxInt8Ms.toFixed(2)} ms: int8/fp32 ${r.int8OverFp32.toFixed(2)}; onnx fp32 / PyTorch ${r.onnxFp32OverTorch === null ? 'n/a' : r.onnxFp32OverTorch.toFixed(2)}`,
    );
  }
  // The forms against each other, from rows timed in the same rounds.
  const [fused, plain] = [
    report.ratios.filter((r) => r.form === 'fused'),
    report.ratios.filter((r) => r.form === 'plain'),
  ];
  for (const f of fused) {
    const p = plain.find((r) => r.batch === f.batch && r.tokens === f.tokens);
    if (!p) continue;
    lines.push(
      `full subnet ${f.batch}x${f.tokens}, fused / plain: fp32 ${(f.onnxFp32Ms / p.onnxFp32Ms).toFixed(3)}, int8 ${(f.onnxInt8Ms / p.onnxInt8Ms).toFixed(3)}`,
    );
  }
  lines.push(
    `per-call overhead, smallest subnet at 1x16: ${Object.entries(report.overhead)
      .map(
        ([e, o]) =>
          `${e} p50 ${o.p50Ms.toFixed(3)} ms (p90 ${o.p90Ms.toFixed(3)}, cpu ${o.cpuP50Ms.toFixed(3)})`,
      )
      .join(', ')} (target onnx < 0.2 ms)`,
  );
  lines.push(
    `subnet switch (slice + load, p50): ${report.switches.map((s) => `${s.engine} ${s.subnet} ${s.p50Ms.toFixed(1)} ms`).join(', ')}`,
  );
  const mem = report.memory;
  lines.push(
    `memory: onnx RSS ${mb(mem.onnx.rssBeforeBytes)} -> ${mb(mem.onnx.rssAfterBytes)} MiB over ${mem.onnx.calls} calls (${mem.onnx.distinctShapes} shapes); tfjs tensors ${mem.tfjs.tensorsBefore} -> ${mem.tfjs.tensorsAfter} over ${mem.tfjs.calls} calls`,
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message} (${USAGE})`);
    return 2;
  }
  try {
    const report = await runBench(args, process.env);
    console.log(formatReport(report));
    if (args.json) {
      await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
      console.error(`wrote ${args.json}`);
    }
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    console.error(
      `bench: ${code ? `${code}: ` : ''}${error instanceof Error ? error.message.split('\n')[0] : error}`,
    );
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
