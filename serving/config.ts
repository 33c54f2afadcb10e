import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ModelNameSchema } from '../src/artifact/manifest.ts';
import { describeIssues } from '../src/describe-issues.ts';
import { s3OptionsFromEnv } from '../src/storage/s3-options-from-env.ts';
import type { S3StoreOptions } from '../src/storage/s3-store.ts';

// The bundled default: a repository of models (each folder a model root) inside the package, whatever the cwd.
export const DEFAULT_SUPERNET_URI = fileURLToPath(new URL('../models', import.meta.url));
// The model of the bundled repository that the text-embeddings-inference routes serve unless DEFAULT_MODEL says.
export const BUNDLED_DEFAULT_MODEL = 'imdb-sentiment';

// Where the process runs: defaults differ between a long-lived server and a Lambda instance.
export type ServingRuntime = 'server' | 'lambda';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const positive = (max: number) => z.coerce.number().positive().max(max);

// Every environment variable the serving layer reads (README.md documents each), as strings in, typed out.
export const ServingEnvSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  SUPERNET_URI: z.string().min(1).default(DEFAULT_SUPERNET_URI),
  MODELS: z
    .string()
    .transform((text) => text.split(',').map((name) => name.trim()))
    .pipe(z.array(ModelNameSchema).min(1))
    .optional(),
  DEFAULT_MODEL: ModelNameSchema.optional(),
  ENGINE: z.enum(['onnx', 'tfjs']).default('onnx'),
  TFJS_BACKEND: z.enum(['auto', 'node-gpu', 'node', 'wasm', 'cpu']).default('auto'),
  INFERENCE_WORKERS: int(0, 64).optional(),
  ONNX_THREADS: int(1, 256).optional(),
  ONNX_GRAPH: z.enum(['fused', 'plain']).default('fused'),
  ENGINE_CACHE_MB: positive(1_048_576).default(4096),
  CALIBRATION_MS: int(0, 600_000).default(1000),
  DEFAULT_LATENCY_BUDGET_MS: positive(3_600_000).optional(),
  DEFAULT_BUDGET_MODE: z.enum(['best-effort', 'strict']).default('best-effort'),
  MAX_BATCH: int(1, 1024).default(16),
  MAX_BATCH_MS: positive(3_600_000).default(2),
  MAX_QUEUE: int(1, 100_000).default(256),
  MAX_QUEUE_WAIT_MS: positive(3_600_000).default(2000),
  NO_BUDGET_DEADLINE_MS: positive(3_600_000).default(10_000),
  NO_BUDGET_BACKLOG_MS: z.coerce.number().min(0).max(3_600_000).default(1),
  LATENCY_EWMA_ALPHA: z.coerce.number().min(0).max(1).default(0.1),
  LATENCY_TARGET_QUANTILE: z.coerce.number().gt(0).lt(1).default(0.99),
  ACCURACY_TIE_TOLERANCE: z.coerce.number().min(0).max(1).default(0.0025),
  LOAD_TRADE_ACCURACY: z.coerce.number().min(0).max(1).default(0),
  LOAD_TRADE_FROM: z.coerce.number().min(0).max(1).default(0.5),
  LOAD_TRADE_TO: z.coerce.number().min(0).max(1).default(0.85),
  MAX_BODY_BYTES: int(1024, 1024 * 1024 * 1024).default(1024 * 1024),
  MAX_TEXTS: int(1, 100_000).default(64),
  MAX_CHARS_PER_TEXT: int(1, 100_000_000).default(50_000),
  MAX_TOKENS_PER_TEXT: int(2, 10_000_000).optional(),
  TOKEN_LIMIT: z.enum(['truncate', 'reject']).default('truncate'),
  RELOAD_INTERVAL_MS: int(0, 86_400_000).optional(),
  ARTIFACT_CACHE_DIR: z.string().min(1).optional(),
  MAX_ARTIFACT_MB: positive(1_048_576).default(2048),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 600_000).default(1000),
  MAX_EVENT_LOOP_UTILIZATION: z.coerce.number().min(0).max(1).default(0.98),
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PAGE: z.enum(['on', 'off']).optional(),
});

// The serving configuration, parsed once and passed down.
export interface ServingConfig {
  runtime: ServingRuntime;
  port: number;
  host: string;
  supernetUri: string;
  // The models of the repository root SUPERNET_URI names to serve (no listing of the root); undefined: every model
  // found in it (or the one model or version folder it names).
  models: string[] | undefined;
  // The model the text-embeddings-inference routes (POST /predict, GET /info) serve; undefined: the one served.
  defaultModel: string | undefined;
  s3: S3StoreOptions;
  engine: 'onnx' | 'tfjs';
  tfjsBackend: 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
  // 0: run subnets on the main thread; n: n worker threads, each with its own sessions.
  inferenceWorkers: number;
  onnxThreads: number;
  // How the onnx engine writes each subnet's graph: onnxruntime's fused attention op, or standard operators only.
  onnxGraph: 'fused' | 'plain';
  engineCacheBytes: number;
  calibrationMs: number;
  defaultLatencyBudgetMs: number | undefined;
  defaultBudgetMode: 'best-effort' | 'strict';
  maxBatch: number;
  maxBatchMs: number;
  maxQueue: number;
  maxQueueWaitMs: number;
  noBudgetDeadlineMs: number;
  noBudgetBacklogMs: number;
  latencyEwmaAlpha: number;
  // The share of latency-budgeted requests the budget check's margin is sized to cover.
  latencyTargetQuantile: number;
  // Catalog accuracies closer than this count as equal; selection then takes the faster point.
  accuracyTieTolerance: number;
  // Selection widens the accuracy tie by up to `accuracy` as the engine's utilization goes from `from` to `to`.
  loadTrade: { from: number; to: number; accuracy: number };
  maxBodyBytes: number;
  maxTexts: number;
  maxCharsPerText: number;
  // undefined: the manifest tokenizer's maxTokens.
  maxTokensPerText: number | undefined;
  tokenLimit: 'truncate' | 'reject';
  // 0 disables polling LATEST.
  reloadIntervalMs: number;
  artifactCacheDir: string | undefined;
  maxArtifactBytes: number;
  maxEventLoopDelayMs: number;
  maxEventLoopUtilization: number;
  shutdownGraceMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  // Serve the page at GET / (and its assets under /page/).
  page: boolean;
}

// Thrown for an invalid environment, naming every bad variable.
export class ServingConfigError extends Error {
  override readonly name = 'ServingConfigError';
}

// Parses the environment into a ServingConfig (unset and empty variables take their defaults).
export function loadConfig(
  env: Record<string, string | undefined>,
  runtime: ServingRuntime = 'server',
): ServingConfig {
  const present = Object.fromEntries(
    Object.keys(ServingEnvSchema.shape)
      .map((name) => [name, env[name]?.trim()] as const)
      .filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = ServingEnvSchema.safeParse(present);
  if (!parsed.success) {
    // One line naming every bad variable and the value it had (the first 60 characters of it).
    const problems = describeIssues(parsed.error, ([name]) => {
      const value = present[String(name)] ?? '';
      return `${String(name)}=${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value)}`;
    });
    throw new ServingConfigError(`invalid serving environment: ${problems}`);
  }
  let s3: S3StoreOptions;
  try {
    s3 = s3OptionsFromEnv(env);
  } catch (error) {
    throw new ServingConfigError((error as Error).message, { cause: error });
  }
  const v = parsed.data;
  if (v.LOAD_TRADE_TO <= v.LOAD_TRADE_FROM) {
    throw new ServingConfigError(
      `invalid serving environment: LOAD_TRADE_TO (${v.LOAD_TRADE_TO}) must be above LOAD_TRADE_FROM (${v.LOAD_TRADE_FROM})`,
    );
  }
  const cores = availableParallelism();
  const lambda = runtime === 'lambda';
  // The event loop (HTTP, JSON, tokenizing) keeps a core of its own: beside the cheap catalog points it costs
  // about as much per request as inference, and a worker per core left them time-slicing (README, Engines).
  const inferenceWorkers = v.INFERENCE_WORKERS ?? (lambda ? 0 : Math.max(1, cores - 1));
  return {
    runtime,
    port: v.PORT,
    host: v.HOST,
    supernetUri: v.SUPERNET_URI,
    models: v.MODELS === undefined ? undefined : [...new Set(v.MODELS)],
    defaultModel: v.DEFAULT_MODEL ?? (present.SUPERNET_URI === undefined ? BUNDLED_DEFAULT_MODEL : undefined),
    s3,
    engine: v.ENGINE,
    tfjsBackend: v.TFJS_BACKEND,
    inferenceWorkers,
    // In-process, one call may use every core; with workers, each worker takes one core.
    onnxThreads: v.ONNX_THREADS ?? (inferenceWorkers === 0 ? cores : 1),
    onnxGraph: v.ONNX_GRAPH,
    engineCacheBytes: Math.floor(v.ENGINE_CACHE_MB * 1024 * 1024),
    calibrationMs: v.CALIBRATION_MS,
    defaultLatencyBudgetMs: v.DEFAULT_LATENCY_BUDGET_MS,
    defaultBudgetMode: v.DEFAULT_BUDGET_MODE,
    maxBatch: v.MAX_BATCH,
    maxBatchMs: v.MAX_BATCH_MS,
    maxQueue: v.MAX_QUEUE,
    maxQueueWaitMs: v.MAX_QUEUE_WAIT_MS,
    noBudgetDeadlineMs: v.NO_BUDGET_DEADLINE_MS,
    noBudgetBacklogMs: v.NO_BUDGET_BACKLOG_MS,
    latencyEwmaAlpha: v.LATENCY_EWMA_ALPHA,
    latencyTargetQuantile: v.LATENCY_TARGET_QUANTILE,
    accuracyTieTolerance: v.ACCURACY_TIE_TOLERANCE,
    loadTrade: { from: v.LOAD_TRADE_FROM, to: v.LOAD_TRADE_TO, accuracy: v.LOAD_TRADE_ACCURACY },
    maxBodyBytes: v.MAX_BODY_BYTES,
    maxTexts: v.MAX_TEXTS,
    maxCharsPerText: v.MAX_CHARS_PER_TEXT,
    maxTokensPerText: v.MAX_TOKENS_PER_TEXT,
    tokenLimit: v.TOKEN_LIMIT,
    // A Lambda instance is frozen between invocations: a new version arrives with a new deployment.
    reloadIntervalMs: v.RELOAD_INTERVAL_MS ?? (lambda ? 0 : 30_000),
    artifactCacheDir: v.ARTIFACT_CACHE_DIR ?? (lambda ? '/tmp/supernet-cache' : undefined),
    maxArtifactBytes: Math.floor(v.MAX_ARTIFACT_MB * 1024 * 1024),
    maxEventLoopDelayMs: v.MAX_EVENT_LOOP_DELAY_MS,
    maxEventLoopUtilization: v.MAX_EVENT_LOOP_UTILIZATION,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    logLevel: v.LOG_LEVEL,
    // A Lambda answers API calls; the page is for a server a person opens (PAGE=on turns it on anyway).
    page: (v.PAGE ?? (lambda ? 'off' : 'on')) === 'on',
  };
}
