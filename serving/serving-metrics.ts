import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ExecutorStats } from './subnet-executor.ts';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// One model's queue and loaded version right now, read at scrape time.
export interface ModelSnapshot {
  model: string;
  // undefined while nothing is loaded.
  version: string | undefined;
  queueLength: number;
  runningCalls: number;
  ready: boolean;
  corrections: ReadonlyArray<{ subnet: string; factor: number }>;
  // The margin budget checks add to latency predictions (LATENCY_TARGET_QUANTILE of recent lateness).
  budgetMarginMs: number;
}

// What the engines and every model look like right now, read at scrape time.
export interface ServingSnapshot {
  // EngineSlots.utilization: the engine's recent busy share, all models together.
  utilization: number;
  models: readonly ModelSnapshot[];
  // What the engines hold, summed over the inference workers (asked at scrape time), for leak checks.
  engineStats: () => Promise<ReadonlyArray<ExecutorStats>>;
}

// The Prometheus metrics of one app, in a registry of its own (two apps in one process do not collide).
export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'route' | 'status' | 'subnet'>;
  readonly requestSeconds: Histogram<'model' | 'route' | 'subnet'>;
  readonly queueSeconds: Histogram<'model' | 'subnet'>;
  readonly inferenceSeconds: Histogram<'model' | 'subnet'>;
  readonly budgets: Counter<'model' | 'outcome' | 'mode'>;
  readonly batchTexts: Histogram<'model' | 'subnet'>;
  readonly shed: Counter<'model' | 'reason'>;
  readonly reloads: Counter<'model' | 'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'serving_requests_total',
      help: 'Requests answered, by model, route, HTTP status and operating point ("none" when none was named or chosen)',
      labelNames: ['model', 'route', 'status', 'subnet'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'serving_request_duration_seconds',
      help: 'Server time of inference requests, from receipt to answer',
      labelNames: ['model', 'route', 'subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.queueSeconds = new Histogram({
      name: 'serving_queue_seconds',
      help: 'Time requests waited in the scheduler queue',
      labelNames: ['model', 'subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.inferenceSeconds = new Histogram({
      name: 'serving_inference_seconds',
      help: 'Engine time of the batch each request ran in',
      labelNames: ['model', 'subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.budgets = new Counter({
      name: 'serving_budget_total',
      help: 'Served inference requests whose budget was met or missed, by budget mode',
      labelNames: ['model', 'outcome', 'mode'],
      registers,
    });
    this.batchTexts = new Histogram({
      name: 'serving_batch_texts',
      help: 'Texts per engine call (batching of queued requests)',
      labelNames: ['model', 'subnet'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.shed = new Counter({
      name: 'serving_shed_total',
      help: 'Requests refused with 503 to protect the server (queue full, queue too long, event loop), by model ("none" before one is named)',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.reloads = new Counter({
      name: 'serving_reloads_total',
      help: 'Attempts to load a supernet version, by model and outcome (loaded, refused, failed)',
      labelNames: ['model', 'outcome'],
      registers,
    });
  }

  // Registers the gauges read at scrape time from what serves the requests (queues, engines, loaded models);
  // called once, by whoever builds that, after building it.
  watch(snapshot: () => ServingSnapshot): void {
    const registers = [this.registry];
    const perModel = (name: string, help: string, pick: (m: ModelSnapshot) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const m of snapshot().models) this.set({ model: m.model }, pick(m));
        },
      });
    perModel(
      'serving_queue_length',
      'Requests waiting in the scheduler queue, by model',
      (m) => m.queueLength,
    );
    perModel('serving_running_calls', 'Engine calls running, by model', (m) => m.runningCalls);
    new Gauge({
      name: 'serving_engine_utilization',
      help: 'Share of the last few hundred ms the inference slots were busy (0 to 1); selection trades accuracy for speed above LOAD_TRADE_FROM',
      registers,
      collect() {
        this.set(snapshot().utilization);
      },
    });
    perModel('serving_ready', '1 when the model is loaded and calibrated, by model', (m) =>
      m.ready ? 1 : 0,
    );
    new Gauge({
      name: 'serving_model_info',
      help: 'The supernet version served, by model (value 1)',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const { model, version } of snapshot().models) {
          if (version !== undefined) this.set({ model, version }, 1);
        }
      },
    });
    perModel(
      'serving_budget_margin_seconds',
      'Margin budget checks add to latency predictions: LATENCY_TARGET_QUANTILE of how late recent budgeted requests finished, by model',
      (m) => m.budgetMarginMs / 1000,
    );
    // One scrape asks the workers once; the three gauges below share the answer.
    let engineStats: Promise<ReadonlyArray<ExecutorStats>> | undefined;
    const statsOnce = () => {
      engineStats ??= snapshot()
        .engineStats()
        .catch(() => [])
        .finally(() => setImmediate(() => (engineStats = undefined)));
      return engineStats;
    };
    const engineGauge = (name: string, help: string, pick: (s: ExecutorStats) => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const values = (await statsOnce()).map(pick).filter((v): v is number => v !== undefined);
          if (values.length > 0) this.set(values.reduce((a, b) => a + b, 0));
        },
      });
    engineGauge('serving_engine_tensors', 'Live tfjs tensors, all workers (tfjs engine)', (s) => s.tensors);
    engineGauge(
      'serving_engine_sessions_created',
      'ONNX sessions created so far, all workers (onnx engine)',
      (s) => s.sessionsCreated,
    );
    engineGauge(
      'serving_engine_resident_subnets',
      'Subnets resident in the engine caches, all workers',
      (s) => s.residentSubnets,
    );
    new Gauge({
      name: 'serving_latency_correction',
      help: 'Online correction of each operating point latency prediction (observed / calibrated, EWMA)',
      labelNames: ['model', 'subnet'],
      registers,
      collect() {
        this.reset();
        for (const m of snapshot().models) {
          for (const { subnet, factor } of m.corrections) this.set({ model: m.model, subnet }, factor);
        }
      },
    });
  }
}
