import { formatTable, policyLabel, pooledAttainment, runAccuracy } from './format-summary.ts';
import type { ClassResult, LoadTestReport, RunResult } from './report-schema.ts';
import { type ChartSeries, escapeXml, lineChart } from './svg-chart.ts';

const POLICY_COLORS = ['#1f5fbf', '#c0392b', '#e08e0b', '#2e8b57', '#7d3c98'];
const CLASS_COLORS = ['#c0392b', '#e08e0b', '#2e8b57', '#7d3c98', '#555555', '#1f5fbf'];

const CSS = `
    body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto; max-width: 1320px; padding: 0 16px; }
    h1 small { color: #777; font-weight: normal; font-size: 0.6em; }
    h2 { margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
    h3 { font-size: 14px; margin: 18px 0 4px; }
    h3 small { color: #777; font-weight: normal; }
    .verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; }
    .verdict.ok { background: #e3f4e8; color: #1d6b38; }
    .verdict.miss { background: #fbe5e3; color: #9b2a1f; }
    .checks span { display: inline-block; margin: 6px 8px 0 0; padding: 2px 8px; border-radius: 4px; font-size: 12px; }
    .checks .ok { background: #e3f4e8; } .checks .miss { background: #fbe5e3; }
    .meta { color: #444; font-size: 13px; }
    .warn { color: #b03a2e; }
    .note { color: #555; font-size: 12.5px; }
    .grid { display: flex; flex-wrap: wrap; gap: 10px; }
    .grid svg { border: 1px solid #eee; border-radius: 4px; }
    table { border-collapse: collapse; font-size: 12px; margin: 4px 0 8px; }
    th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
    th { background: #f6f6f6; }
    td:first-child, th:first-child, td.l, th.l { text-align: left; }
    code { font-size: 12px; background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
  `;

const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
const num = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '–' : v.toFixed(digits);

// The policies in run order, elastic last so that its line is drawn on top.
function policies(report: LoadTestReport): string[] {
  const all = [...new Set(report.runs.map((r) => r.policy))];
  return [...all.filter((p) => p !== 'elastic'), ...all.filter((p) => p === 'elastic')];
}

// Charts name the baselines by role (the legend has no room for ids; the page lists them).
function policyStyle(report: LoadTestReport, policy: string) {
  const roles = Object.entries(report.baselines)
    .filter(([, id]) => id === policy)
    .map(([role]) => role);
  const color =
    policy === 'elastic'
      ? POLICY_COLORS[0]!
      : roles.includes('largest')
        ? POLICY_COLORS[1]!
        : roles.includes('middle')
          ? POLICY_COLORS[2]!
          : roles.includes('smallest')
            ? POLICY_COLORS[3]!
            : POLICY_COLORS[4]!;
  return {
    name: policy === 'elastic' ? 'elastic' : `pinned ${roles.join('/') || policy}`,
    color,
    width: policy === 'elastic' ? 3 : 1.6,
    ...(policy === 'elastic' ? {} : { dash: '6 3' }),
  };
}

// One series per policy of a per-class figure against the offered load.
function perPolicy(
  report: LoadTestReport,
  className: string,
  pick: (c: ClassResult) => number | null,
): ChartSeries[] {
  return policies(report).map((policy) => ({
    ...policyStyle(report, policy),
    points: report.runs
      .filter((r) => r.policy === policy)
      .map((r) => {
        const c = r.classes.find((x) => x.name === className);
        return [r.loadFraction, c ? pick(c) : null] as const;
      }),
  }));
}

// One series per policy of a whole-run figure against the offered load.
function perPolicyRun(report: LoadTestReport, pick: (r: RunResult) => number | null): ChartSeries[] {
  return policies(report).map((policy) => ({
    ...policyStyle(report, policy),
    points: report.runs.filter((r) => r.policy === policy).map((r) => [r.loadFraction, pick(r)] as const),
  }));
}

// An HTML table; numbers right-aligned, the first column and the columns in `left` left-aligned.
function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  cls = '',
  left: ReadonlySet<number> = new Set(),
): string {
  const align = (i: number) => (left.has(i) ? ' class="l"' : '');
  return (
    `<table class="${cls}"><thead><tr>${head.map((h, i) => `<th${align(i)}>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c, i) => `<td${align(i)}>${escapeXml(c)}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

// The x axis every chart against offered load shares.
interface LoadAxis {
  xLabel: string;
  xTicks: number[];
  formatX: (x: number) => string;
}

// report.html: one self-contained page (inline SVG and CSS, no scripts, no external fonts) with the verdict,
// the setup, the figures against offered load per budget class (elastic against the pinned baselines), the
// operating points elastic selection served, the capacity search, the soak, and every figure in tables.
export function renderReportHtml(report: LoadTestReport): string {
  const loads = [...new Set(report.runs.map((r) => r.loadFraction))].sort((a, b) => a - b);
  const axis: LoadAxis = {
    xLabel: 'offered load (x capacity)',
    xTicks: loads,
    formatX: (x: number) => `${x}x`,
  };
  const body = [
    ...renderVerdict(report),
    ...renderBudgetClasses(report),
    ...renderLatencyCharts(report, axis),
    ...renderAttainmentCharts(report, axis),
    ...renderAccuracyCharts(report, axis),
    ...renderServedPoints(report),
    ...renderLatencyPredictions(report),
    ...renderSoak(report),
    ...renderCapacitySearch(report),
    ...renderRuns(report),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Load test ${escapeXml(report.target.model)} ${escapeXml(report.createdAt)}</title>
<style>${CSS}</style></head>
<body>
${body.join('\n')}
<!-- plain-text summary
${escapeXml(summaryForComment(report))}
-->
</body></html>
`;
}

// The title, the SLO verdict with its checks per load, and the machine and settings the figures come from.
function renderVerdict(report: LoadTestReport): string[] {
  const slo = report.slo;
  const m = report.machine;
  const body: string[] = [];
  body.push(
    `<h1>Load test: ${escapeXml(report.target.model)} <small>${escapeXml(report.target.modelVersion)}</small></h1>`,
  );
  body.push(
    `<div class="verdict ${slo.met ? 'ok' : 'miss'}">SLO target ${slo.met ? 'met' : 'missed'}: ${escapeXml(slo.description)}</div>`,
  );
  body.push('<div class="checks">');
  for (const check of slo.checks) {
    body.push(
      `<span class="${check.met ? 'ok' : 'miss'}">${check.loadFraction}x (${check.offeredRps} req/s): ${pct(check.attainment)} of ${check.count}</span>`,
    );
  }
  body.push('</div>');
  body.push(
    `<p class="meta">${escapeXml(report.createdAt)} · ${m.cpus} cpus (${escapeXml(m.cpuModel)}), ${(m.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${escapeXml(m.node)} · ` +
      `<b>load average</b> ${m.loadAvgStart.join(' / ')} at start, ${m.loadAvgEnd.join(' / ')} at end, highest 1-min ${m.loadAvgMax1m}` +
      `${m.loadAvgMax1m > m.cpus ? ' <b class="warn">(the machine was busy with other work: figures are pessimistic)</b>' : ''} · load generator at nice ${m.generatorNice}<br>` +
      `server ${escapeXml(report.target.url)}${report.target.spawned ? ` (spawned, ${escapeXml(report.target.supernet ?? '')})` : ''}, engine ${escapeXml(report.target.engine)}, ${report.target.workers} workers · ` +
      `<b>capacity ${report.capacityRps.toFixed(0)} req/s</b> (${report.capacity.given ? 'given' : 'measured'}${report.capacity.capped ? ', at least' : ''}) · ` +
      `${report.settings.runDurationS} s per run${report.settings.quick ? ' (quick)' : ''} · ${report.settings.texts.count} IMDB reviews of ${report.settings.texts.words.min}–${report.settings.texts.words.max} words (median ${report.settings.texts.words.median})</p>`,
  );
  return body;
}

// The budget classes (header, share of the mix, whether the SLO counts them) and the pinned baselines.
function renderBudgetClasses(report: LoadTestReport): string[] {
  const body: string[] = [];
  body.push('<h2>Budget classes</h2>');
  body.push(
    table(
      ['class', 'header', 'share', 'in SLO'],
      report.budgets.classes.map((c) => [
        c.name,
        c.latencyBudgetMs !== null
          ? `Latency-Budget-Ms: ${c.latencyBudgetMs}`
          : c.memoryBudgetMb !== null
            ? `Memory-Budget-Mb: ${c.memoryBudgetMb}`
            : '(none)',
        `${(c.weight * 100).toFixed(0)}%`,
        c.inSlo ? 'yes' : 'no',
      ]),
      '',
      new Set([1]),
    ),
  );
  body.push(`<p class="note">${escapeXml(report.budgets.derivation)}</p>`);
  body.push(
    `<p class="note">Baselines pin one operating point with <code>Subnet-Id</code> and send the same mix and budget headers: ` +
      `largest <code>${escapeXml(report.baselines.largest)}</code>, middle <code>${escapeXml(report.baselines.middle)}</code>, smallest <code>${escapeXml(report.baselines.smallest)}</code>.</p>`,
  );
  return body;
}

// p99 latency against load, one chart per budget class.
function renderLatencyCharts(report: LoadTestReport, axis: LoadAxis): string[] {
  const body: string[] = [];
  body.push('<h2>Latency against load</h2>');
  body.push(
    '<p class="note">p99 of 2xx answers as the load generator saw them (log scale); the dashed line is the class budget. Server-side p99 in the tables below.</p><div class="grid">',
  );
  for (const c of report.budgets.classes) {
    body.push(
      lineChart({
        ...axis,
        title: `p99 latency: ${c.name}`,
        yLabel: 'ms',
        logY: true,
        series: perPolicy(report, c.name, (x) => x.p99Ms),
        rules:
          c.latencyBudgetMs !== null
            ? [{ y: c.latencyBudgetMs, label: `budget ${c.latencyBudgetMs} ms`, color: '#333' }]
            : [],
      }),
    );
  }
  body.push('</div>');
  return body;
}

// Budget attainment against load: the SLO classes pooled, then each class.
function renderAttainmentCharts(report: LoadTestReport, axis: LoadAxis): string[] {
  const slo = report.slo;
  const sloClasses = new Set(report.budgets.classes.filter((c) => c.inSlo).map((c) => c.name));
  const target = [{ y: slo.target * 100, label: `${slo.target * 100}%`, color: '#333' }];
  const body: string[] = [];
  body.push('<h2>Budget attainment against load</h2>');
  body.push(
    '<p class="note">Share of requests answered 2xx within the class budget (server time; memory: the subnet served fits); refusals count as misses. The dashed line is the 99% target.</p><div class="grid">',
  );
  body.push(
    lineChart({
      ...axis,
      title: `SLO classes pooled (${[...sloClasses].join(', ')})`,
      yLabel: 'attainment %',
      yMin: 0,
      yMax: 100,
      series: perPolicyRun(report, (r) => {
        const a = pooledAttainment(r, sloClasses);
        return a === null ? null : a * 100;
      }),
      rules: target,
    }),
  );
  for (const c of report.budgets.classes) {
    body.push(
      lineChart({
        ...axis,
        title: `attainment: ${c.name}`,
        yLabel: 'attainment %',
        yMin: 0,
        yMax: 100,
        series: perPolicy(report, c.name, (x) => (x.attainment === null ? null : x.attainment * 100)),
        rules: target,
      }),
    );
  }
  body.push('</div>');
  return body;
}

// Mean expected accuracy (per policy, and per class under elastic selection), goodput and refusals against load.
function renderAccuracyCharts(report: LoadTestReport, axis: LoadAxis): string[] {
  const body: string[] = [];
  body.push('<h2>Accuracy and throughput against load</h2><div class="grid">');
  const accuracies = report.catalog.map((p) => p.devAccuracy);
  const accRange = {
    yMin: Math.floor(Math.min(...accuracies) * 100) / 100 - 0.01,
    yMax: Math.ceil(Math.max(...accuracies) * 100) / 100 + 0.01,
  };
  body.push(
    lineChart({
      ...axis,
      ...accRange,
      title: 'mean expected accuracy of the answers',
      yLabel: 'dev accuracy',
      series: perPolicyRun(report, runAccuracy),
    }),
  );
  body.push(
    lineChart({
      ...axis,
      ...accRange,
      title: 'elastic: mean expected accuracy per class',
      yLabel: 'dev accuracy',
      series: report.budgets.classes.map((c, i) => ({
        name: c.name,
        color: CLASS_COLORS[i % CLASS_COLORS.length]!,
        points: report.runs
          .filter((r) => r.policy === 'elastic')
          .map(
            (r) => [r.loadFraction, r.classes.find((x) => x.name === c.name)?.meanAccuracy ?? null] as const,
          ),
      })),
    }),
  );
  body.push(
    lineChart({
      ...axis,
      title: 'goodput (2xx per second)',
      yLabel: 'req/s',
      yMin: 0,
      series: [
        ...perPolicyRun(report, (r) => r.okRps),
        {
          name: 'offered',
          color: '#999',
          dash: '2 3',
          width: 1,
          points: axis.xTicks.map((l) => [l, l * report.capacityRps] as const),
        },
      ],
    }),
  );
  body.push(
    lineChart({
      ...axis,
      title: 'refused (503/422) share',
      yLabel: '%',
      yMin: 0,
      series: perPolicyRun(report, (r) => {
        const count = r.classes.reduce((s, c) => s + c.count, 0);
        return count === 0 ? null : (100 * r.classes.reduce((s, c) => s + c.refusedCount, 0)) / count;
      }),
    }),
  );
  body.push('</div>');
  return body;
}

// The catalog, largest first.
function pointsByFlops(report: LoadTestReport): LoadTestReport['catalog'] {
  return [...report.catalog].sort((a, b) => b.flops - a.flops);
}

// The share of answers each operating point gave under elastic selection, per load, with texts per engine call.
function renderServedPoints(report: LoadTestReport): string[] {
  const body: string[] = [];
  body.push('<h2>Operating points served by elastic selection</h2>');
  body.push(
    '<p class="note">Share of the 2xx answers per operating point and load; after the dot, texts per engine call (the scheduler batches queued requests for the same point; from /metrics).</p>',
  );
  const elastic = report.runs.filter((r) => r.policy === 'elastic');
  body.push(
    table(
      ['operating point', 'dev acc', 'calibrated ms', ...elastic.map((r) => `${r.loadFraction}x`)],
      pointsByFlops(report).map((p) => [
        p.id,
        p.devAccuracy.toFixed(3),
        num(p.calibratedLatencyMs),
        ...elastic.map((r) => {
          const total = r.classes.reduce((s, c) => s + c.okCount, 0);
          const n = r.classes.reduce((s, c) => s + (c.subnets[p.id] ?? 0), 0);
          const batch = r.batches?.[p.id];
          if (total === 0 || n === 0) return '';
          return `${pct(n / total)}${batch ? ` · ${batch.meanTexts.toFixed(1)}/call` : ''}`;
        }),
      ]),
      'points',
    ),
  );
  return body;
}

// The server's latency prediction per operating point at each snapshot of the test (none: no section).
function renderLatencyPredictions(report: LoadTestReport): string[] {
  if (report.latencySnapshots.length === 0) return [];
  const body: string[] = [];
  body.push("<h2>The server's latency predictions during the test</h2>");
  body.push(
    '<p class="note">Predicted ms for one text at each point\'s token length (GET /v1/models/{model}: the start-up calibration times the online correction). A point\'s correction only moves while it is served.</p>',
  );
  body.push(
    table(
      ['operating point', 'calibrated', ...report.latencySnapshots.map((s) => s.phase)],
      pointsByFlops(report).map((p) => [
        p.id,
        num(p.calibratedLatencyMs),
        ...report.latencySnapshots.map((s) => num(s.latencyMs[p.id])),
      ]),
      'points',
    ),
  );
  return body;
}

// The soak: whether the server's memory stayed flat, its memory over time, and the engine gauges /metrics has.
function renderSoak(report: LoadTestReport): string[] {
  if (!report.soak) return [];
  const s = report.soak;
  const body: string[] = [];
  body.push(`<h2>Soak: ${s.minutes} min at ${s.offeredRps} req/s</h2>`);
  body.push(
    `<p>RSS (${escapeXml(s.rssSource)}): ${s.flat === null ? 'too few samples to judge' : s.flat ? '<b>flat</b>' : '<b class="warn">growing</b>'}; ` +
      `second-half slope ${num(s.slopeMbPerMin)} MB/min (fitted growth ${num(s.growthMb, 1)} MB).</p><div class="grid">`,
  );
  const mb = (v: number | null) => (v === null ? null : v / 1e6);
  body.push(
    lineChart({
      title: 'server memory over the soak',
      xLabel: 'minutes',
      yLabel: 'MB',
      formatX: (x) => x.toFixed(1),
      series: [
        {
          name: 'RSS',
          color: POLICY_COLORS[0]!,
          points: s.samples.map((x) => [x.tS / 60, mb(x.rssBytes)] as const),
        },
        {
          name: 'V8 heap used',
          color: POLICY_COLORS[2]!,
          points: s.samples.map((x) => [x.tS / 60, mb(x.heapUsedBytes)] as const),
        },
        {
          name: 'external',
          color: POLICY_COLORS[3]!,
          points: s.samples.map((x) => [x.tS / 60, mb(x.externalBytes)] as const),
        },
      ],
      width: 640,
    }),
  );
  const gaugeNames = [...new Set(s.samples.flatMap((x) => Object.keys(x.gauges)))];
  if (gaugeNames.length > 0) {
    body.push(
      lineChart({
        title: 'engine gauges from /metrics',
        xLabel: 'minutes',
        yLabel: 'value',
        formatX: (x) => x.toFixed(1),
        series: gaugeNames.slice(0, 6).map((name, i) => ({
          name,
          color: CLASS_COLORS[i % CLASS_COLORS.length]!,
          points: s.samples.map((x) => [x.tS / 60, x.gauges[name] ?? null] as const),
        })),
      }),
    );
  } else {
    body.push(
      '<p class="note">/metrics exposes no tensor, session or engine-cache gauge: only memory is tracked.</p>',
    );
  }
  body.push('</div>');
  return body;
}

// Every step of the capacity search (none when the capacity was given: no section).
function renderCapacitySearch(report: LoadTestReport): string[] {
  if (report.capacity.steps.length === 0) return [];
  const body: string[] = [];
  body.push('<h2>Capacity search</h2>');
  body.push(`<p class="note">${escapeXml(report.capacity.method)}</p>`);
  body.push(
    table(
      ['offered req/s', 'sent req/s', 'ok req/s', 'failed', 'p99 ms', 'sustained', 'why', 'load avg'],
      report.capacity.steps.map((s) => [
        s.offeredRps.toFixed(0),
        s.sentRps.toFixed(1),
        s.okRps.toFixed(1),
        pct(s.failedFraction),
        num(s.p99Ms, 1),
        s.sustainable ? 'yes' : 'no',
        s.reason,
        s.loadAvg.join(' '),
      ]),
      '',
      new Set([6]),
    ),
  );
  return body;
}

const RUN_COLUMNS = [
  'class',
  'budget',
  'n',
  'p50',
  'p95',
  'p99',
  'srv p50',
  'srv p99',
  'queue p50',
  'queue p99',
  'mean inference',
  'attain',
  'attain (client)',
  'server said met',
  'refused',
  'errors',
  'mean acc',
  'ok/s',
];

// Every run's figures per class, in one table per run.
function renderRuns(report: LoadTestReport): string[] {
  const body: string[] = [];
  body.push('<h2>Every run</h2>');
  for (const run of report.runs) {
    body.push(
      `<h3>${escapeXml(policyLabel(report, run.policy))} at ${run.loadFraction}x: offered ${run.offeredRps} req/s, sent ${run.sentRps.toFixed(1)}, ok ${run.okRps.toFixed(1)} ` +
        `<small>(${run.connections} connections, ${run.durationS} s, errors ${run.errors}, timeouts ${run.timeouts}, load avg ${run.loadAvg.join(' ')})</small></h3>`,
    );
    body.push(table(RUN_COLUMNS, run.classes.map(runRow), 'runs'));
  }
  return body;
}

// One class of one run, in RUN_COLUMNS' order.
function runRow(c: ClassResult): string[] {
  return [
    c.name,
    c.budgetMs !== null ? `${c.budgetMs} ms` : c.memoryBudgetMb !== null ? `${c.memoryBudgetMb} MiB` : '–',
    String(c.count),
    num(c.p50Ms),
    num(c.p95Ms),
    num(c.p99Ms),
    num(c.serverP50Ms),
    num(c.serverP99Ms),
    num(c.queueP50Ms),
    num(c.queueP99Ms),
    num(c.meanInferenceMs),
    pct(c.attainment),
    pct(c.attainmentClient),
    pct(c.reportedMet),
    pct(c.refused),
    String(c.errorCount),
    num(c.meanAccuracy, 3),
    num(c.throughputRps, 1),
  ];
}

// The comparison table as text, kept in the page's source for grep and diff.
function summaryForComment(report: LoadTestReport): string {
  const rows = [['load', 'policy', 'ok/s', 'acc']];
  for (const r of report.runs)
    rows.push([`${r.loadFraction}x`, r.policy, r.okRps.toFixed(0), num(runAccuracy(r), 3)]);
  return formatTable(rows, new Set([1])).replace(/--/g, '- ');
}
