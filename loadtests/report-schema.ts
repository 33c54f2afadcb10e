import { z } from 'zod';

const ms = z.number().nonnegative();
const fraction = z.number().min(0).max(1);
const loadAvg = z.tuple([z.number(), z.number(), z.number()]);

// One budget class of one run. Latencies are of 2xx answers, measured by the load generator (client) and by the
// server (Server-Timing total); null when nothing was answered. `attainment`: answered 2xx within the class's
// budget (server time, the contract's measure) over every request of the class; `refused`: the fraction
// answered 503 or 422.
export const ClassResultSchema = z.object({
  name: z.string(),
  budgetMs: z.number().positive().nullable(),
  memoryBudgetMb: z.number().positive().nullable(),
  count: z.number().int().nonnegative(),
  okCount: z.number().int().nonnegative(),
  p50Ms: ms.nullable(),
  p95Ms: ms.nullable(),
  p99Ms: ms.nullable(),
  maxMs: ms.nullable(),
  serverP50Ms: ms.nullable(),
  serverP95Ms: ms.nullable(),
  serverP99Ms: ms.nullable(),
  // Server-Timing parts of 2xx answers: time queued before the engine call, and the call itself.
  queueP50Ms: ms.nullable(),
  queueP99Ms: ms.nullable(),
  meanInferenceMs: ms.nullable(),
  attainment: fraction.nullable(),
  // The same, judged on the load generator's clock (includes the socket, parsing, and this machine's noise).
  attainmentClient: fraction.nullable(),
  // Answers whose `budget.met` was true, over 2xx answers (what the server believed).
  reportedMet: fraction.nullable(),
  refused: fraction.nullable(),
  refusedCount: z.number().int().nonnegative(),
  // Other non-2xx answers.
  errorCount: z.number().int().nonnegative(),
  meanAccuracy: z.number().min(0).max(1).nullable(),
  throughputRps: z.number().nonnegative(),
  // 2xx answers per operating point served.
  subnets: z.record(z.string(), z.number().int().nonnegative()),
});
export type ClassResult = z.infer<typeof ClassResultSchema>;

// One fixed-rate run: a policy (elastic selection, or one pinned operating point) at one offered load.
export const RunResultSchema = z.object({
  policy: z.string().min(1),
  loadFraction: z.number().positive(),
  offeredRps: z.number().positive(),
  // Requests actually sent per second (below offered when every connection is waiting: closed-loop limit).
  sentRps: z.number().nonnegative(),
  okRps: z.number().nonnegative(),
  durationS: z.number().positive(),
  connections: z.number().int().positive(),
  // Connection errors and timeouts (not attributable to a class).
  errors: z.number().int().nonnegative(),
  timeouts: z.number().int().nonnegative(),
  // Answers the harness could not file under a class or whose 2xx body did not parse (should be 0).
  unmatched: z.number().int().nonnegative(),
  statusCounts: z.record(z.string(), z.number().int().nonnegative()),
  loadAvg: loadAvg,
  // Engine calls per operating point during the run and texts per call (batching), from /metrics
  // (serving_batch_texts); null without /metrics.
  batches: z
    .record(z.string(), z.object({ calls: z.number().nonnegative(), meanTexts: z.number().nonnegative() }))
    .nullable(),
  classes: z.array(ClassResultSchema).min(1),
});
export type RunResult = z.infer<typeof RunResultSchema>;

export const CapacityStepSchema = z.object({
  offeredRps: z.number().positive(),
  sentRps: z.number().nonnegative(),
  okRps: z.number().nonnegative(),
  failedFraction: fraction,
  p99Ms: ms.nullable(),
  sustainable: z.boolean(),
  reason: z.string(),
  loadAvg: loadAvg,
});

export const SoakSampleSchema = z.object({
  tS: z.number().nonnegative(),
  rssBytes: z.number().nonnegative().nullable(),
  heapUsedBytes: z.number().nonnegative().nullable(),
  externalBytes: z.number().nonnegative().nullable(),
  // Other gauges found on /metrics that count engine state (tensors, sessions, cached subnets).
  gauges: z.record(z.string(), z.number()),
});
export type SoakSample = z.infer<typeof SoakSampleSchema>;

// report.json
export const LoadTestReportSchema = z.object({
  formatVersion: z.literal(1),
  createdAt: z.iso.datetime(),
  machine: z.object({
    hostname: z.string(),
    platform: z.string(),
    arch: z.string(),
    cpus: z.number().int().positive(),
    cpuModel: z.string(),
    totalMemoryBytes: z.number().nonnegative(),
    node: z.string(),
    loadAvgStart: loadAvg,
    loadAvgEnd: loadAvg,
    loadAvgMax1m: z.number(),
    // The load generator's niceness (10 beside a spawned server, so that it takes the cycles the server leaves).
    generatorNice: z.number().int(),
  }),
  target: z.object({
    url: z.string(),
    spawned: z.boolean(),
    supernet: z.string().nullable(),
    model: z.string(),
    modelVersion: z.string(),
    engine: z.string(),
    workers: z.number(),
  }),
  settings: z.object({
    quick: z.boolean(),
    runDurationS: z.number().positive(),
    loadFractions: z.array(z.number().positive()).min(1),
    seed: z.number().int(),
    texts: z.object({
      count: z.number().int().positive(),
      words: z.object({ min: z.number(), median: z.number(), max: z.number() }),
      tokensEstimate: z.string(),
    }),
  }),
  catalog: z.array(
    z.object({
      id: z.string(),
      flops: z.number(),
      memoryBytes: z.number(),
      devAccuracy: z.number(),
      calibratedLatencyMs: z.number(),
    }),
  ),
  // The server's latency prediction per operating point (one text at its tokens: calibration times the online
  // correction) at points of the test.
  latencySnapshots: z.array(
    z.object({ phase: z.string(), latencyMs: z.record(z.string(), z.number().nullable()) }),
  ),
  budgets: z.object({
    derivation: z.string(),
    overheadMs: z.number().nonnegative(),
    // The 99th percentile of an idle server's time for the smallest point (the tight budget's floor).
    idleP99Ms: z.number().nonnegative(),
    classes: z.array(
      z.object({
        name: z.string(),
        latencyBudgetMs: z.number().positive().nullable(),
        memoryBudgetMb: z.number().positive().nullable(),
        weight: z.number().positive(),
        inSlo: z.boolean(),
      }),
    ),
  }),
  baselines: z.object({ largest: z.string(), middle: z.string(), smallest: z.string() }),
  capacityRps: z.number().positive(),
  capacity: z.object({
    method: z.string(),
    probeRps: z.number().nonnegative(),
    given: z.boolean(),
    capped: z.boolean(),
    steps: z.array(CapacityStepSchema),
  }),
  runs: z.array(RunResultSchema),
  slo: z.object({
    description: z.string(),
    target: fraction,
    maxLoadFraction: z.number().positive(),
    met: z.boolean(),
    checks: z.array(
      z.object({
        loadFraction: z.number(),
        offeredRps: z.number(),
        count: z.number().int().nonnegative(),
        attainment: fraction.nullable(),
        met: z.boolean(),
        // Per class, for the record (the target is on the classes pooled).
        classes: z.array(z.object({ name: z.string(), attainment: fraction.nullable(), count: z.number() })),
      }),
    ),
  }),
  soak: z
    .object({
      minutes: z.number().positive(),
      offeredRps: z.number().positive(),
      rssSource: z.string(),
      samples: z.array(SoakSampleSchema),
      slopeMbPerMin: z.number().nullable(),
      growthMb: z.number().nullable(),
      flat: z.boolean().nullable(),
      run: RunResultSchema,
    })
    .nullable(),
});
export type LoadTestReport = z.infer<typeof LoadTestReportSchema>;
