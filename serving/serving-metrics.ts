import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ExecutorStats } from './subnet-executor.ts';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// What the queue and the loaded model look like right now, read at scrape time.
export interface ServingSnapshot {
  queueLength: number;
  runningCalls: number;
  // Scheduler.utilization: the engine's recent busy share.
  utilization: number;
  model: string | undefined;
  version: string | undefined;
  ready: boolean;
  corrections: ReadonlyArray<{ subnet: string; factor: number }>;
  // What the engines hold, summed over the inference workers (asked at scrape time), for leak checks.
  engineStats: () => Promise<ReadonlyArray<ExecutorStats>>;
  // The margin budget checks add to latency predictions (LATENCY_TARGET_QUANTILE of recent lateness).
  budgetMarginMs: number;
}

// The Prometheus metrics of one app, in a registry of its own (two apps in one process do not collide).
export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status' | 'subnet'>;
  readonly requestSeconds: Histogram<'route' | 'subnet'>;
  readonly queueSeconds: Histogram<'subnet'>;
  readonly inferenceSeconds: Histogram<'subnet'>;
  readonly budgets: Counter<'outcome' | 'mode'>;
  readonly batchTexts: Histogram<'subnet'>;
  readonly shed: Counter<'reason'>;
  readonly reloads: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'serving_requests_total',
      help: 'Requests answered, by route, HTTP status and operating point ("none" when none was chosen)',
      labelNames: ['route', 'status', 'subnet'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'serving_request_duration_seconds',
      help: 'Server time of inference requests, from receipt to answer',
      labelNames: ['route', 'subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.queueSeconds = new Histogram({
      name: 'serving_queue_seconds',
      help: 'Time requests waited in the scheduler queue',
      labelNames: ['subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.inferenceSeconds = new Histogram({
      name: 'serving_inference_seconds',
      help: 'Engine time of the batch each request ran in',
      labelNames: ['subnet'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.budgets = new Counter({
      name: 'serving_budget_total',
      help: 'Served inference requests whose budget was met or missed, by budget mode',
      labelNames: ['outcome', 'mode'],
      registers,
    });
    this.batchTexts = new Histogram({
      name: 'serving_batch_texts',
      help: 'Texts per engine call (batching of queued requests)',
      labelNames: ['subnet'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.shed = new Counter({
      name: 'serving_shed_total',
      help: 'Requests refused with 503 to protect the server (queue full, queue too long, event loop)',
      labelNames: ['reason'],
      registers,
    });
    this.reloads = new Counter({
      name: 'serving_reloads_total',
      help: 'Attempts to load a supernet version, by outcome (loaded, refused, failed)',
      labelNames: ['outcome'],
      registers,
    });
  }

  // Registers the gauges read at scrape time from what serves the requests (queue, engine, loaded model); called
  // once, by whoever builds that, after building it.
  watch(snapshot: () => ServingSnapshot): void {
    const registers = [this.registry];
    new Gauge({
      name: 'serving_queue_length',
      help: 'Requests waiting in the scheduler queue',
      registers,
      collect() {
        this.set(snapshot().queueLength);
      },
    });
    new Gauge({
      name: 'serving_running_calls',
      help: 'Engine calls running',
      registers,
      collect() {
        this.set(snapshot().runningCalls);
      },
    });
    new Gauge({
      name: 'serving_engine_utilization',
      help: 'Share of the last few hundred ms the inference slots were busy (0 to 1); selection trades accuracy for speed above LOAD_TRADE_FROM',
      registers,
      collect() {
        this.set(snapshot().utilization);
      },
    });
    new Gauge({
      name: 'serving_ready',
      help: '1 when a supernet is loaded and calibrated',
      registers,
      collect() {
        this.set(snapshot().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'serving_model_info',
      help: 'The supernet version served (value 1)',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        const { model, version } = snapshot();
        if (model !== undefined && version !== undefined) this.set({ model, version }, 1);
      },
    });
    new Gauge({
      name: 'serving_budget_margin_seconds',
      help: 'Margin budget checks add to latency predictions: LATENCY_TARGET_QUANTILE of how late recent budgeted requests finished',
      registers,
      collect() {
        this.set(snapshot().budgetMarginMs / 1000);
      },
    });
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
      labelNames: ['subnet'],
      registers,
      collect() {
        this.reset();
        for (const { subnet, factor } of snapshot().corrections) this.set({ subnet }, factor);
      },
    });
  }
}
