import type { ClassResult, LoadTestReport, RunResult } from './report-schema.ts';

const ms = (v: number | null) =>
  v === null ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
const acc = (v: number | null) => (v === null ? '-' : v.toFixed(3));

// A plain text table: the first row is the header; columns right-aligned except the ones named in `left`.
export function formatTable(
  rows: readonly (readonly string[])[],
  left: ReadonlySet<number> = new Set(),
): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((cell, i) => (left.has(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

// The name a run's policy goes by: elastic, or the baseline role and its operating point.
export function policyLabel(report: Pick<LoadTestReport, 'baselines'>, policy: string): string {
  if (policy === 'elastic') return 'elastic';
  const roles = Object.entries(report.baselines)
    .filter(([, id]) => id === policy)
    .map(([role]) => role);
  return `${roles.join('/') || 'pinned'} ${policy}`;
}

// SLO classes of a run pooled: answered within budget over requests.
export function pooledAttainment(run: RunResult, classes: ReadonlySet<string>): number | null {
  const picked = run.classes.filter((c) => classes.has(c.name));
  const count = picked.reduce((s, c) => s + c.count, 0);
  if (count === 0) return null;
  return picked.reduce((s, c) => s + Math.round((c.attainment ?? 0) * c.count), 0) / count;
}

// Mean expected accuracy over every 2xx answer of a run.
export function runAccuracy(run: RunResult): number | null {
  let sum = 0;
  let n = 0;
  for (const c of run.classes) {
    if (c.meanAccuracy === null) continue;
    sum += c.meanAccuracy * c.okCount;
    n += c.okCount;
  }
  return n === 0 ? null : sum / n;
}

const budgetText = (c: ClassResult) =>
  c.budgetMs !== null ? `${c.budgetMs} ms` : c.memoryBudgetMb !== null ? `${c.memoryBudgetMb} MiB` : '-';

// The summary printed at the end: the elastic runs per class, all policies compared, and the verdict.
export function formatSummary(report: LoadTestReport): string {
  const out: string[] = [];
  const m = report.machine;
  out.push(
    `machine: ${m.cpus} cpus (${m.cpuModel}), load average ${m.loadAvgStart.join(' ')} at start, ` +
      `${m.loadAvgEnd.join(' ')} at end, 1-min max ${m.loadAvgMax1m}; load generator at nice ${m.generatorNice}`,
  );
  out.push(
    `server: ${report.target.url} ${report.target.model} ${report.target.modelVersion}, engine ${report.target.engine}, ` +
      `${report.target.workers} workers${report.target.spawned ? ` (spawned on ${report.target.supernet})` : ''}`,
  );
  out.push(
    `capacity: ${report.capacityRps.toFixed(0)} req/s (${report.capacity.given ? 'given' : 'measured'}${report.capacity.capped ? ', at least' : ''})`,
  );
  out.push(`budgets: ${report.budgets.derivation}`);
  out.push('');
  out.push(
    'Elastic selection, per budget class (ms; latencies of 2xx answers on the load generator; srv = Server-Timing total; queue p99 and mean inference from Server-Timing):',
  );
  const rows: string[][] = [
    [
      'load',
      'sent/s',
      'class',
      'budget',
      'p50',
      'p95',
      'p99',
      'srv p99',
      'queue p99',
      'infer',
      'attain',
      'attain(cli)',
      'refused',
      'acc',
      'n',
    ],
  ];
  for (const run of report.runs.filter((r) => r.policy === 'elastic')) {
    for (const c of run.classes) {
      rows.push([
        `${run.loadFraction}x`,
        run.sentRps.toFixed(0),
        c.name,
        budgetText(c),
        ms(c.p50Ms),
        ms(c.p95Ms),
        ms(c.p99Ms),
        ms(c.serverP99Ms),
        ms(c.queueP99Ms),
        ms(c.meanInferenceMs),
        pct(c.attainment),
        pct(c.attainmentClient),
        pct(c.refused),
        acc(c.meanAccuracy),
        String(c.count),
      ]);
    }
  }
  out.push(formatTable(rows, new Set([2])));
  for (const run of report.runs.filter((r) => r.policy === 'elastic' && r.batches !== null)) {
    const calls = Object.entries(run.batches ?? {})
      .sort((a, b) => b[1].calls - a[1].calls)
      .map(([id, b]) => `${id} ${b.calls}x${b.meanTexts.toFixed(1)}`);
    out.push(`  ${run.loadFraction}x engine calls x texts per call: ${calls.join(', ') || '-'}`);
  }
  out.push('');
  const sloClasses = new Set(report.budgets.classes.filter((c) => c.inSlo).map((c) => c.name));
  const latencyClasses = report.budgets.classes.filter((c) => c.latencyBudgetMs !== null).map((c) => c.name);
  out.push(
    `Policies compared (SLO attainment pools ${[...sloClasses].join(', ')}; accuracy over all 2xx answers):`,
  );
  const compare: string[][] = [
    ['load', 'policy', 'ok/s', 'SLO attain', ...latencyClasses, 'refused', 'errors', 'mean acc', 'p99 all'],
  ];
  for (const run of report.runs) {
    const count = run.classes.reduce((s, c) => s + c.count, 0);
    const refused = run.classes.reduce((s, c) => s + c.refusedCount, 0);
    const errors = run.classes.reduce((s, c) => s + c.errorCount, 0) + run.errors + run.timeouts;
    const p99 = Math.max(...run.classes.map((c) => c.p99Ms ?? 0));
    compare.push([
      `${run.loadFraction}x`,
      policyLabel(report, run.policy),
      run.okRps.toFixed(0),
      pct(pooledAttainment(run, sloClasses)),
      ...latencyClasses.map((name) => pct(run.classes.find((c) => c.name === name)?.attainment ?? null)),
      pct(count === 0 ? null : refused / count),
      String(errors),
      acc(runAccuracy(run)),
      ms(p99),
    ]);
  }
  out.push(formatTable(compare, new Set([1])));
  if (report.soak) {
    const s = report.soak;
    const first = s.samples.find((x) => x.rssBytes !== null)?.rssBytes;
    const last = s.samples.findLast((x) => x.rssBytes !== null)?.rssBytes;
    out.push('');
    out.push(
      `soak: ${s.minutes} min at ${s.offeredRps} req/s; RSS (${s.rssSource}) ${first ? (first / 1e6).toFixed(0) : '-'} -> ` +
        `${last ? (last / 1e6).toFixed(0) : '-'} MB, second-half slope ${s.slopeMbPerMin?.toFixed(2) ?? '-'} MB/min: ` +
        `${s.flat === null ? 'too few samples' : s.flat ? 'flat' : 'GROWING'}`,
    );
  }
  out.push('');
  const slo = report.slo;
  out.push(`SLO target: ${slo.description}`);
  for (const check of slo.checks) {
    const perClass = check.classes.map((c) => `${c.name} ${pct(c.attainment)}`).join(', ');
    out.push(
      `  ${check.met ? 'ok  ' : 'MISS'} ${check.loadFraction}x (${check.offeredRps} req/s): ${pct(check.attainment)} of ${check.count} (${perClass})`,
    );
  }
  out.push(`verdict: SLO target ${slo.met ? 'MET' : 'MISSED'}`);
  return out.join('\n');
}
