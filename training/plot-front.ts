import type { SearchPoint } from './search.ts';

// An SVG scatter of the search: every evaluated point (grey), the Pareto front (line) and the catalog (red),
// FLOPs on a log axis against dev accuracy.
export function plotFront(
  evaluated: readonly SearchPoint[],
  front: readonly SearchPoint[],
  catalog: readonly SearchPoint[],
  title: string,
  // The front is measured on a slice of dev during the search; the catalog on all of dev.
  sizes: { searchExamples: number; devExamples: number },
): string {
  const width = 720;
  const height = 440;
  const margin = { left: 64, right: 20, top: 36, bottom: 48 };
  const all = [...evaluated, ...catalog];
  const xs = all.map((p) => Math.log10(p.flops));
  const ys = all.map((p) => p.devAccuracy);
  const [x0, x1] = padRange(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = padRange(Math.min(...ys), Math.max(...ys));
  const sx = (p: SearchPoint) =>
    margin.left + ((Math.log10(p.flops) - x0) / (x1 - x0)) * (width - margin.left - margin.right);
  const sy = (p: SearchPoint) =>
    height - margin.bottom - ((p.devAccuracy - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`);
  // Axes with ticks: decades of FLOPs, and accuracy in steps of 1%.
  const axisY = height - margin.bottom;
  parts.push(
    `<line x1="${margin.left}" y1="${axisY}" x2="${width - margin.right}" y2="${axisY}" stroke="black"/>`,
  );
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${axisY}" stroke="black"/>`,
  );
  for (let e = Math.ceil(x0 * 4) / 4; e <= x1; e += 0.25) {
    const x = margin.left + ((e - x0) / (x1 - x0)) * (width - margin.left - margin.right);
    parts.push(`<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="black"/>`);
    parts.push(`<text x="${x}" y="${axisY + 16}" text-anchor="middle">${formatFlops(10 ** e)}</text>`);
  }
  const step = y1 - y0 > 0.2 ? 0.05 : 0.01;
  for (let a = Math.ceil(y0 / step) * step; a <= y1 + 1e-9; a += step) {
    const y = height - margin.bottom - ((a - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
    parts.push(`<line x1="${margin.left - 4}" y1="${y}" x2="${margin.left}" y2="${y}" stroke="black"/>`);
    parts.push(`<line x1="${margin.left}" y1="${y}" x2="${width - margin.right}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 8}" y="${y + 4}" text-anchor="end">${(a * 100).toFixed(0)}%</text>`);
  }
  parts.push(
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle">FLOPs per review (log scale)</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">dev accuracy</text>`,
  );
  for (const p of evaluated) parts.push(`<circle cx="${sx(p)}" cy="${sy(p)}" r="3" fill="#bbb"/>`);
  parts.push(
    `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${front.map((p) => `${sx(p)},${sy(p)}`).join(' ')}"/>`,
  );
  for (const p of catalog) {
    parts.push(
      `<circle cx="${sx(p)}" cy="${sy(p)}" r="5" fill="#dc2626"><title>${escapeXml(p.id)}: ${(p.devAccuracy * 100).toFixed(2)}%, ${formatFlops(p.flops)}</title></circle>`,
    );
  }
  const legendX = width - margin.right - 250;
  parts.push(
    `<circle cx="${legendX}" cy="${margin.top + 250}" r="3" fill="#bbb"/><text x="${legendX + 10}" y="${margin.top + 254}">evaluated (${sizes.searchExamples} dev reviews)</text>`,
  );
  parts.push(
    `<line x1="${legendX - 6}" y1="${margin.top + 270}" x2="${legendX + 6}" y2="${margin.top + 270}" stroke="#2563eb" stroke-width="2"/><text x="${legendX + 10}" y="${margin.top + 274}">Pareto front (${sizes.searchExamples} dev reviews)</text>`,
  );
  parts.push(
    `<circle cx="${legendX}" cy="${margin.top + 290}" r="5" fill="#dc2626"/><text x="${legendX + 10}" y="${margin.top + 294}">catalog (all ${sizes.devExamples} dev reviews)</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

function padRange(lo: number, hi: number): [number, number] {
  const pad = Math.max((hi - lo) * 0.06, 1e-3);
  return [lo - pad, hi + pad];
}

export function formatFlops(flops: number): string {
  if (flops >= 1e9) return `${(flops / 1e9).toFixed(1)}G`;
  if (flops >= 1e6) return `${(flops / 1e6).toFixed(0)}M`;
  return `${(flops / 1e3).toFixed(0)}K`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
