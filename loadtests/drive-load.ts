import autocannon from 'autocannon';
import { parsePredictAnswer, parseServerTiming } from './api-client.ts';
import { ClassStats, type Observation } from './class-stats.ts';
import { paceConnections } from './pace-connections.ts';
import type { ClassResult } from './report-schema.ts';
import { seededRandom } from './review-texts.ts';
import type { TrafficClass } from './traffic-mix.ts';

// The most connections a fixed-rate run opens (each sends rps/connections requests per second).
export const MAX_CONNECTIONS = 256;
// Slots of the deterministic (class, text) schedule that requests walk through.
const SCHEDULE_LENGTH = 4096;

// What one run sends and how.
export interface DriveLoadOptions {
  // The server's base URL (http://127.0.0.1:port).
  url: string;
  model: string;
  classes: readonly TrafficClass[];
  texts: readonly string[];
  // Requests per second across all connections; undefined: closed loop (each connection sends as soon as
  // it has its answer).
  rps: number | undefined;
  // Closed loop: how many connections; fixed rate: at most this many (default MAX_CONNECTIONS).
  connections?: number;
  durationS: number;
  // Pin this operating point (Subnet-Id) on every request; the class's budget headers are still sent.
  pin?: string;
  seed: number;
  // Called about 5 times a second with the fraction of the run done.
  onProgress?: (done: number) => void;
}

// What one run measured.
export interface RunMeasurement {
  classes: ClassResult[];
  sentRps: number;
  okRps: number;
  durationS: number;
  connections: number;
  errors: number;
  timeouts: number;
  statusCounts: Record<string, number>;
  // Responses whose class could not be matched (should stay 0: it checks the harness itself).
  unmatched: number;
  // 2xx answers whose body did not parse.
  unparsed: number;
  // All classes pooled.
  all: ClassResult;
}

interface Pending extends Omit<Observation, 'clientMs'> {
  classIndex: number;
}

// A seeded (class, text) schedule: class shares follow the weights exactly per SCHEDULE_LENGTH requests.
function buildSchedule(
  classes: readonly TrafficClass[],
  texts: number,
  seed: number,
): [Uint32Array, Uint32Array] {
  const random = seededRandom(seed);
  const total = classes.reduce((s, c) => s + c.weight, 0);
  const classOf = new Uint32Array(SCHEDULE_LENGTH);
  let slot = 0;
  classes.forEach((c, i) => {
    const n =
      i === classes.length - 1 ? SCHEDULE_LENGTH - slot : Math.round((c.weight / total) * SCHEDULE_LENGTH);
    classOf.fill(i, slot, slot + n);
    slot += n;
  });
  const textOf = new Uint32Array(SCHEDULE_LENGTH);
  for (let i = 0; i < SCHEDULE_LENGTH; i++) textOf[i] = Math.floor(random() * texts);
  for (let i = SCHEDULE_LENGTH - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [classOf[i], classOf[j]] = [classOf[j]!, classOf[i]!];
  }
  return [classOf, textOf];
}

// The answers of a run as they arrive: the body of the latest (from the request's `onResponse`), waiting for its
// response time (the instance's `response` event right after it), and what could not be matched or parsed.
interface AnswerLog {
  pending: Pending | undefined;
  unmatched: number;
  unparsed: number;
}

// The one request of the run: each call takes the next (class, text) slot of the seeded schedule, sends the
// class's headers (and the pin) with that text, and notes the answer's body and Server-Timing in `answers`.
function scheduledRequest(options: DriveLoadOptions, answers: AnswerLog): autocannon.Request {
  const { classes, texts } = options;
  const bodies = texts.map((text) => JSON.stringify({ inputs: [text] }));
  const headersOf = classes.map((c) => ({
    'content-type': 'application/json',
    ...c.headers,
    ...(options.pin !== undefined ? { 'subnet-id': options.pin } : {}),
  }));
  const [classOf, textOf] = buildSchedule(classes, texts.length, options.seed);
  let sequence = 0;
  const path = `/v1/models/${encodeURIComponent(options.model)}/predict`;
  return {
    method: 'POST',
    path,
    setupRequest: (req, context) => {
      const slot = sequence++ % SCHEDULE_LENGTH;
      const classIndex = classOf[slot]!;
      (context as { classIndex?: number }).classIndex = classIndex;
      return { ...req, method: 'POST', path, headers: headersOf[classIndex]!, body: bodies[textOf[slot]!]! };
    },
    onResponse: (status, body, context, headers) => {
      const classIndex = (context as { classIndex?: number }).classIndex;
      if (classIndex === undefined) {
        answers.pending = undefined;
        return;
      }
      const timingHeader = Object.entries(headers ?? {}).find(
        ([k]) => k.toLowerCase() === 'server-timing',
      )?.[1];
      const timing = parseServerTiming(typeof timingHeader === 'string' ? timingHeader : undefined);
      const answer = status >= 200 && status < 300 ? parsePredictAnswer(body) : undefined;
      if (status >= 200 && status < 300 && answer === undefined) answers.unparsed++;
      answers.pending = {
        classIndex,
        status,
        serverMs: timing.total,
        queueMs: timing.queue,
        inferenceMs: timing.inference,
        subnet: answer?.subnet,
        accuracy: answer?.accuracy,
        memoryBytes: answer?.memoryBytes,
        budgetMet: answer?.met,
      };
    },
  };
}

// Runs one autocannon instance (pipelining 1) over the mix. Each request's class is chosen in `setupRequest` and
// kept in the connection's context; `onResponse` reads the answer's body (operating point, accuracy, memory,
// budget met) and Server-Timing; the instance's `response` event, emitted right after it for the same answer,
// adds the client-side response time and files everything under the class.
export async function driveLoad(options: DriveLoadOptions): Promise<RunMeasurement> {
  const stats = options.classes.map(
    (c) =>
      new ClassStats({ name: c.name, latencyBudgetMs: c.latencyBudgetMs, memoryBudgetMb: c.memoryBudgetMb }),
  );
  const pooled = new ClassStats({ name: 'all', latencyBudgetMs: undefined, memoryBudgetMb: undefined });
  const answers: AnswerLog = { pending: undefined, unmatched: 0, unparsed: 0 };
  const request = scheduledRequest(options, answers);

  const rps = options.rps === undefined ? undefined : Math.max(1, Math.round(options.rps));
  const connections =
    rps === undefined
      ? Math.max(1, options.connections ?? 16)
      : Math.max(1, Math.min(rps, options.connections ?? MAX_CONNECTIONS));

  // Requests written (autocannon's own `sent` also counts one budget per connection that was never used).
  let sent = 0;
  const pace = rps === undefined ? undefined : paceConnections(rps, connections);
  const setupClient = (client: autocannon.Client) => {
    client.on('request' as 'body', () => {
      sent++;
    });
    pace?.(client);
  };

  const startedAt = performance.now();
  const progress =
    options.onProgress === undefined
      ? undefined
      : setInterval(() => {
          options.onProgress?.(Math.min(1, (performance.now() - startedAt) / 1000 / options.durationS));
        }, 200);

  let result: autocannon.Result;
  try {
    result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: options.url,
          connections,
          pipelining: 1,
          duration: options.durationS,
          timeout: 30,
          requests: [request],
          setupClient,
          ...(rps === undefined ? {} : { overallRate: rps }),
        },
        (error: unknown, res: autocannon.Result) => (error ? reject(error) : resolve(res)),
      );
      instance.on('response', (_client, _status, _bytes, responseTime) => {
        const p = answers.pending;
        answers.pending = undefined;
        if (p === undefined) {
          answers.unmatched++;
          return;
        }
        const observation = { ...p, clientMs: responseTime };
        stats[p.classIndex]!.record(observation);
        pooled.record(observation);
      });
    });
  } finally {
    if (progress) clearInterval(progress);
  }
  options.onProgress?.(1);
  return summarizeRun(result, stats, pooled, { sent, connections, answers });
}

// The run's figures per class and pooled, from its statistics and autocannon's result (the statistics are
// released).
function summarizeRun(
  result: autocannon.Result,
  stats: ClassStats[],
  pooled: ClassStats,
  run: { sent: number; connections: number; answers: AnswerLog },
): RunMeasurement {
  const durationS = Math.max(result.duration, 1e-3);
  const classResults = stats.map((s) => s.summarize(durationS));
  const all = poolClasses(classResults, pooled.summarize(durationS));
  for (const s of [...stats, pooled]) s.destroy();
  const statusCounts: Record<string, number> = {};
  for (const [code, value] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[code] = (value as { count: number }).count;
  }
  const ok = classResults.reduce((s, c) => s + c.okCount, 0);
  return {
    classes: classResults,
    sentRps: run.sent / durationS,
    okRps: ok / durationS,
    durationS,
    connections: run.connections,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
    unmatched: run.answers.unmatched,
    unparsed: run.answers.unparsed,
    all,
  };
}

// All classes of a run as one: latencies from the pooled histograms, attainment and accuracy count-weighted.
function poolClasses(classes: readonly ClassResult[], pooled: ClassResult): ClassResult {
  const weighted = (pick: (c: ClassResult) => number | null, weight: (c: ClassResult) => number) => {
    let sum = 0;
    let n = 0;
    for (const c of classes) {
      const v = pick(c);
      if (v === null) continue;
      sum += v * weight(c);
      n += weight(c);
    }
    return n === 0 ? null : sum / n;
  };
  return {
    ...pooled,
    attainment: weighted(
      (c) => c.attainment,
      (c) => c.count,
    ),
    attainmentClient: weighted(
      (c) => c.attainmentClient,
      (c) => c.count,
    ),
  };
}
