// One line of a chart; null y values break the line (nothing measured there).
export interface ChartSeries {
  name: string;
  color: string;
  points: ReadonlyArray<readonly [number, number | null]>;
  dash?: string;
  width?: number;
}

// A horizontal reference line (a budget, a target).
export interface ChartRule {
  y: number;
  label: string;
  color: string;
  dash?: string;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  rules?: readonly ChartRule[];
  width?: number;
  height?: number;
  logY?: boolean;
  yMin?: number;
  yMax?: number;
  xTicks?: readonly number[];
  formatX?: (x: number) => string;
  formatY?: (y: number) => string;
  legend?: boolean;
}

export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

// Round tick values covering [lo, hi], about `count` of them.
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Math.round(v / step) * step);
  return ticks;
}

// Ticks of a log axis: 1-2-5 per decade.
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

const defaultFormat = (v: number) => {
  const a = Math.abs(v);
  if (a >= 1_000_000) return `${Math.round(v / 100_000) / 10}M`;
  if (a >= 10_000) return `${Math.round(v / 100) / 10}k`;
  if (a !== 0 && a < 0.01) return v.toExponential(0);
  return String(Math.round(v * 1000) / 1000);
};

// A self-contained SVG line chart (markers on every point, optional log y axis, reference rules, legend).
export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 420;
  const height = spec.height ?? 260;
  const legendRows = spec.legend === false ? 0 : Math.ceil(spec.series.length / 2);
  const margin = { left: 58, right: 14, top: 28, bottom: 40 + legendRows * 16 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const formatX = spec.formatX ?? defaultFormat;
  const formatY = spec.formatY ?? defaultFormat;

  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [
    ...spec.series.flatMap((s) => s.points.map((p) => p[1]).filter((y): y is number => y !== null)),
    ...(spec.rules ?? []).map((r) => r.y),
  ].filter((y) => !spec.logY || y > 0);
  const xLo = Math.min(...(spec.xTicks ?? xs), ...xs);
  const xHi = Math.max(...(spec.xTicks ?? xs), ...xs);
  let yLo = spec.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let yHi = spec.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (spec.logY) {
    yLo = 10 ** Math.floor(Math.log10(Math.max(yLo, 1e-3)));
    yHi = 10 ** Math.ceil(Math.log10(Math.max(yHi, yLo * 10)));
  } else if (spec.yMin === undefined && spec.yMax === undefined) {
    const pad = (yHi - yLo) * 0.08 || Math.abs(yHi) * 0.1 || 1;
    yLo = yLo - pad;
    yHi = yHi + pad;
  }
  const xSpan = xHi - xLo || 1;
  const sx = (x: number) => margin.left + ((x - xLo) / xSpan) * plotW;
  const sy = spec.logY
    ? (y: number) =>
        margin.top + plotH - ((Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * plotH
    : (y: number) => margin.top + plotH - ((y - yLo) / (yHi - yLo || 1)) * plotH;
  const clampY = (y: number) => Math.min(margin.top + plotH, Math.max(margin.top, sy(y)));

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(
    `<text x="${margin.left}" y="17" font-size="13" font-weight="600" fill="#222">${escapeXml(spec.title)}</text>`,
  );
  const yTicks = spec.logY ? logTicks(yLo, yHi) : niceTicks(yLo, yHi, 5);
  for (const t of yTicks) {
    const y = sy(t);
    if (y < margin.top - 0.5 || y > margin.top + plotH + 0.5) continue;
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`,
    );
    parts.push(
      `<text x="${margin.left - 5}" y="${(y + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#555">${escapeXml(formatY(t))}</text>`,
    );
  }
  const xTicks = spec.xTicks ?? niceTicks(xLo, xHi, 5);
  for (const t of xTicks) {
    const x = sx(t);
    parts.push(
      `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#f0f0f0"/>`,
    );
    parts.push(
      `<text x="${x.toFixed(1)}" y="${margin.top + plotH + 14}" font-size="10" text-anchor="middle" fill="#555">${escapeXml(formatX(t))}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 29}" font-size="11" text-anchor="middle" fill="#333">${escapeXml(spec.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#333">${escapeXml(spec.yLabel)}</text>`,
  );
  for (const rule of spec.rules ?? []) {
    if (spec.logY && rule.y <= 0) continue;
    const y = sy(rule.y);
    if (y < margin.top || y > margin.top + plotH) continue;
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${rule.color}" stroke-dasharray="${rule.dash ?? '5 3'}" stroke-width="1.2"/>`,
    );
    parts.push(
      `<text x="${margin.left + plotW - 3}" y="${(y - 3).toFixed(1)}" font-size="10" text-anchor="end" fill="${rule.color}">${escapeXml(rule.label)}</text>`,
    );
  }
  for (const series of spec.series) parts.push(...seriesMarks(series, spec, sx, clampY));
  if (spec.legend !== false) parts.push(...legendMarks(spec.series, margin, plotW, plotH));
  parts.push('</svg>');
  return parts.join('');
}

// A series' line (broken where nothing was measured) and a marker with a tooltip on every point.
function seriesMarks(
  s: ChartSeries,
  spec: LineChartSpec,
  sx: (x: number) => number,
  clampY: (y: number) => number,
): string[] {
  const formatX = spec.formatX ?? defaultFormat;
  const formatY = spec.formatY ?? defaultFormat;
  const parts: string[] = [];
  let d = '';
  let pen = false;
  for (const [x, y] of s.points) {
    if (y === null || (spec.logY && y <= 0)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${sx(x).toFixed(1)} ${clampY(y).toFixed(1)} `;
    pen = true;
  }
  const w = s.width ?? 1.8;
  if (d) {
    parts.push(
      `<path d="${d.trim()}" fill="none" stroke="${s.color}" stroke-width="${w}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
  }
  for (const [x, y] of s.points) {
    if (y === null || (spec.logY && y <= 0)) continue;
    parts.push(
      `<circle cx="${sx(x).toFixed(1)}" cy="${clampY(y).toFixed(1)}" r="${w + 1}" fill="${s.color}"><title>${escapeXml(`${s.name}: ${formatX(x)}, ${formatY(y)}`)}</title></circle>`,
    );
  }
  return parts;
}

// The legend below the plot, two series per row.
function legendMarks(
  series: readonly ChartSeries[],
  margin: { left: number; top: number },
  plotW: number,
  plotH: number,
): string[] {
  const parts: string[] = [];
  series.forEach((s, i) => {
    const col = i % 2;
    const row = Math.floor(i / 2);
    const x = margin.left + col * (plotW / 2);
    const y = margin.top + plotH + 44 + row * 16;
    parts.push(
      `<line x1="${x}" x2="${x + 18}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="${s.width ?? 1.8}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
    const name = s.name.length > 34 ? `${s.name.slice(0, 33)}…` : s.name;
    parts.push(
      `<text x="${x + 22}" y="${y}" font-size="10" fill="#333">${escapeXml(name)}<title>${escapeXml(s.name)}</title></text>`,
    );
  });
  return parts;
}
