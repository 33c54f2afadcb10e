// Renders the figures the README and docs/ show, from committed data only:
//   docs/figures/front-<model>.svg   dev and test accuracy against latency, one mark per catalog operating point
//   docs/figures/attainment.svg      share of budgets met against offered load, elastic and pinned baselines
// Usage: npm run docs:figures [-- --models DIR] [--report FILE] [--out DIR]
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type LoadTestReport, LoadTestReportSchema } from '../loadtests/report-schema.ts';
import { type ChartSeries, lineChart } from '../loadtests/svg-chart.ts';

const ROOT = resolve(import.meta.dirname, '..');

// The fields of a catalog entry the front needs (older and newer manifests both have them).
interface FrontPoint {
  id: string;
  devAccuracy: number;
  testAccuracy: number | null;
  latencyMs: number;
}

const POLICY_COLORS: Record<string, string> = {
  elastic: '#1f77b4',
  largest: '#d62728',
  middle: '#ff7f0e',
  smallest: '#2ca02c',
};

// Reads `<root>/<model>/LATEST` and that version's manifest for every model folder under root.
export function readBundledModels(root: string): { model: string; version: string; manifest: unknown }[] {
  const found = [];
  for (const name of readdirSync(root).sort()) {
    const latestPath = join(root, name, 'LATEST');
    if (!statSync(join(root, name)).isDirectory() || !existsSync(latestPath)) continue;
    const version = readFileSync(latestPath, 'utf8').trim();
    const manifest: unknown = JSON.parse(readFileSync(join(root, name, version, 'manifest.json'), 'utf8'));
    found.push({ model: name, version, manifest });
  }
  return found;
}

// The catalog's points with the latency to plot: calibrated on the load test's host when the report is of this
// model and version, else the figure measured when the catalog was built.
export function frontPoints(
  manifest: unknown,
  calibrated: ReadonlyMap<string, number> | undefined,
): FrontPoint[] {
  const catalog = (manifest as { catalog?: unknown }).catalog;
  if (!Array.isArray(catalog)) throw new Error('manifest has no catalog array');
  return catalog
    .map((raw): FrontPoint => {
      const e = raw as { id: string; devAccuracy: number; testAccuracy?: number | null; latencyMs: number };
      return {
        id: e.id,
        devAccuracy: e.devAccuracy,
        testAccuracy: e.testAccuracy ?? null,
        latencyMs: calibrated?.get(e.id) ?? e.latencyMs,
      };
    })
    .sort((a, b) => a.latencyMs - b.latencyMs);
}

// Decade and half-decade ticks covering [lo, hi] (log10 values), as log10 values.
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const t = e + Math.log10(m);
      if (t >= lo - 0.05 && t <= hi + 0.05) ticks.push(t);
    }
  }
  return ticks;
}

export function renderFront(
  model: string,
  version: string,
  points: readonly FrontPoint[],
  latencySource: string,
): string {
  const xs = points.map((p) => Math.log10(p.latencyMs));
  const series: ChartSeries[] = [
    {
      name: 'dev accuracy',
      color: '#1f77b4',
      points: points.map((p) => [Math.log10(p.latencyMs), p.devAccuracy * 100]),
    },
  ];
  if (points.some((p) => p.testAccuracy !== null)) {
    series.push({
      name: 'test accuracy',
      color: '#d62728',
      dash: '5 3',
      points: points.map((p) => [
        Math.log10(p.latencyMs),
        p.testAccuracy === null ? null : p.testAccuracy * 100,
      ]),
    });
  }
  return lineChart({
    title: `${model} ${version}: ${points.length} operating points`,
    xLabel: `latency, one text (ms, log scale; ${latencySource})`,
    yLabel: 'accuracy %',
    series,
    width: 640,
    height: 340,
    xTicks: logTicks(Math.min(...xs), Math.max(...xs)),
    formatX: (x) => {
      const v = 10 ** x;
      return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
    },
    formatY: (y) => y.toFixed(1),
  });
}

// Attainment of the SLO classes pooled (answered within budget over all their requests) per policy and load.
export function renderAttainment(report: LoadTestReport): string {
  const slo = new Set(report.budgets.classes.filter((c) => c.inSlo).map((c) => c.name));
  const policies = [...new Set(report.runs.map((r) => r.policy))];
  // A pinned policy is named by its operating point; the report says which baseline (largest, ...) it is.
  const roleOf = (policy: string) =>
    policy === 'elastic'
      ? 'elastic'
      : (Object.entries(report.baselines).find(([, id]) => id === policy)?.[0] ?? 'pinned');
  const series: ChartSeries[] = policies.map((policy) => {
    const role = roleOf(policy);
    const runs = report.runs
      .filter((r) => r.policy === policy)
      .sort((a, b) => a.loadFraction - b.loadFraction);
    return {
      name: role === 'elastic' ? 'elastic selection' : `${role} pinned (${policy})`,
      color: POLICY_COLORS[role] ?? '#777',
      width: policy === 'elastic' ? 2.6 : 1.6,
      points: runs.map((r) => {
        let within = 0;
        let count = 0;
        for (const c of r.classes) {
          if (!slo.has(c.name) || c.attainment === null) continue;
          within += c.attainment * c.count;
          count += c.count;
        }
        return [r.loadFraction, count === 0 ? null : (within / count) * 100] as const;
      }),
    };
  });
  const budgets = report.budgets.classes
    .filter((c) => c.inSlo && c.latencyBudgetMs !== null)
    .map((c) => `${c.name} ${c.latencyBudgetMs} ms`)
    .join(', ');
  return lineChart({
    title: `Budgets met under load (${budgets}; capacity ${Math.round(report.capacityRps)} req/s)`,
    xLabel: 'offered load (fraction of measured capacity)',
    yLabel: 'answered within budget %',
    series,
    rules: [{ y: report.slo.target * 100, label: `target ${report.slo.target * 100}%`, color: '#333' }],
    width: 640,
    height: 360,
    yMin: 0,
    yMax: 100,
    xTicks: report.settings.loadFractions,
    formatX: (x) => `${x}x`,
    formatY: (y) => y.toFixed(0),
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: join(ROOT, 'models') },
      report: { type: 'string', default: join(ROOT, 'docs/results/loadtest-report.json') },
      out: { type: 'string', default: join(ROOT, 'docs/figures') },
    },
    strict: true,
  });
  mkdirSync(values.out, { recursive: true });
  let report: LoadTestReport | undefined;
  if (existsSync(values.report)) {
    const parsed = LoadTestReportSchema.safeParse(JSON.parse(readFileSync(values.report, 'utf8')));
    if (!parsed.success)
      throw new Error(`${values.report}: not a load-test report (${parsed.error.issues[0]?.message})`);
    report = parsed.data;
    writeFileSync(join(values.out, 'attainment.svg'), renderAttainment(report));
    console.log(`wrote ${join(values.out, 'attainment.svg')}`);
  } else {
    console.log(`no load-test report at ${values.report}: attainment.svg not rendered`);
  }
  for (const { model, version, manifest } of readBundledModels(values.models)) {
    const calibrated =
      report && report.target.model === model && report.target.modelVersion === version
        ? new Map(report.catalog.map((c) => [c.id, c.calibratedLatencyMs]))
        : undefined;
    const source = calibrated
      ? `calibrated by the server, ${report?.machine.cpuModel}`
      : 'measured at training time';
    const path = join(values.out, `front-${model}.svg`);
    writeFileSync(path, renderFront(model, version, frontPoints(manifest, calibrated), source));
    console.log(`wrote ${path}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(2);
  }
}
