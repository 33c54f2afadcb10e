import type { LoadTestReport, RunResult } from './report-schema.ts';

// The default target: best-effort requests whose latency budget is above the smallest operating point's
// calibrated latency (the classes marked inSlo), pooled, at least 99% answered 2xx within budget (server time)
// at every offered load up to 80% of capacity, under elastic selection.
export const DEFAULT_SLO = { target: 0.99, maxLoadFraction: 0.8 } as const;

// Checks the SLO target on the elastic runs. Not met when no elastic run is at or below the load limit.
export function checkSlo(
  runs: readonly RunResult[],
  sloClasses: readonly string[],
  slo: { target: number; maxLoadFraction: number } = DEFAULT_SLO,
): LoadTestReport['slo'] {
  const inSlo = new Set(sloClasses);
  const checks = runs
    .filter((r) => r.policy === 'elastic' && r.loadFraction <= slo.maxLoadFraction + 1e-9)
    .map((r) => {
      const classes = r.classes.filter((c) => inSlo.has(c.name));
      const count = classes.reduce((s, c) => s + c.count, 0);
      const within = classes.reduce((s, c) => s + Math.round((c.attainment ?? 0) * c.count), 0);
      const attainment = count === 0 ? null : within / count;
      return {
        loadFraction: r.loadFraction,
        offeredRps: r.offeredRps,
        count,
        attainment,
        met: attainment !== null && attainment >= slo.target,
        classes: classes.map((c) => ({ name: c.name, attainment: c.attainment, count: c.count })),
      };
    });
  return {
    description:
      `elastic selection; classes ${[...inSlo].join(', ')} (best-effort latency budgets above the smallest ` +
      `operating point's calibrated latency) pooled; >= ${(slo.target * 100).toFixed(0)}% answered 2xx within ` +
      `budget (Server-Timing total) at every offered load <= ${slo.maxLoadFraction}x capacity`,
    target: slo.target,
    maxLoadFraction: slo.maxLoadFraction,
    met: checks.length > 0 && checks.every((c) => c.met),
    checks,
  };
}
