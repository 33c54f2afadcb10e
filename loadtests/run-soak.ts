import type { ApiClient } from './api-client.ts';
import { type DriveLoadOptions, driveLoad, type RunMeasurement } from './drive-load.ts';
import type { SoakSample } from './report-schema.ts';

// Gauges on /metrics that count engine state, when the server exposes any (tfjs tensors, engine sessions,
// cached subnets); prom-client's process and heap gauges are read separately.
const ENGINE_GAUGE = /(tensor|session|subnet_cache|engine|worker)/i;

export interface RunSoakOptions {
  load: Omit<DriveLoadOptions, 'durationS' | 'onProgress'>;
  minutes: number;
  api: ApiClient;
  // RSS of the server process when the harness spawned it (/proc); otherwise /metrics is the only source.
  rssBytes: (() => Promise<number | undefined>) | undefined;
  onProgress?: (done: number) => void;
}

export interface SoakResult {
  samples: SoakSample[];
  rssSource: string;
  run: RunMeasurement;
  slopeMbPerMin: number | null;
  growthMb: number | null;
  flat: boolean | null;
}

// Least-squares slope of y over x.
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

// Judges an RSS series: the fitted growth over its second half (the first half is warm-up: caches, JIT, pools
// filling). Flat when that growth is under max(8 MB, 2% of the mean RSS); null with fewer than 3 points there.
export function judgeRss(
  samples: readonly SoakSample[],
): Pick<SoakResult, 'slopeMbPerMin' | 'growthMb' | 'flat'> {
  const points = samples
    .filter((s) => s.rssBytes !== null)
    .map((s) => [s.tS / 60, s.rssBytes! / 1e6] as const);
  const end = points.at(-1)?.[0] ?? 0;
  const tail = points.filter(([t]) => t >= end / 2);
  if (tail.length < 3) return { slopeMbPerMin: null, growthMb: null, flat: null };
  const perMin = slope(tail);
  const growthMb = perMin * (end - tail[0]![0]);
  const meanMb = tail.reduce((s, p) => s + p[1], 0) / tail.length;
  return { slopeMbPerMin: perMin, growthMb, flat: growthMb < Math.max(8, 0.02 * meanMb) };
}

// Holds a fixed rate for `minutes` while sampling the server's memory: RSS (from /proc when spawned, else
// process_resident_memory_bytes), V8 heap and external memory, and any engine gauges /metrics has.
export async function runSoak(options: RunSoakOptions): Promise<SoakResult> {
  const durationS = options.minutes * 60;
  const everyS = Math.min(30, Math.max(2, durationS / 60));
  const samples: SoakSample[] = [];
  const startedAt = performance.now();
  let rssSource = options.rssBytes ? '/proc/<pid>/status VmRSS' : '/metrics process_resident_memory_bytes';
  const sample = async () => {
    const tS = (performance.now() - startedAt) / 1000;
    const metrics = await options.api.scrapeMetrics();
    let rss = options.rssBytes ? await options.rssBytes() : undefined;
    if (rss === undefined) {
      rss = metrics?.get('process_resident_memory_bytes');
      if (rss !== undefined && options.rssBytes) rssSource = '/metrics process_resident_memory_bytes';
    }
    const gauges: Record<string, number> = {};
    for (const [name, value] of metrics ?? []) {
      if (ENGINE_GAUGE.test(name) && !/_(bucket|sum|count|total)\b/.test(name)) gauges[name] = value;
    }
    samples.push({
      tS,
      rssBytes: rss ?? null,
      heapUsedBytes: metrics?.get('nodejs_heap_size_used_bytes') ?? null,
      externalBytes: metrics?.get('nodejs_external_memory_bytes') ?? null,
      gauges,
    });
  };
  await sample();
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(sample);
  }, everyS * 1000);
  let run: RunMeasurement;
  try {
    run = await driveLoad({
      ...options.load,
      durationS,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } finally {
    clearInterval(timer);
    await sampling;
  }
  await sample();
  return { samples, rssSource, run, ...judgeRss(samples) };
}
