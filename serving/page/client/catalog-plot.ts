import type { CatalogPoint, Precision } from './api.ts';
import { compareTwins, twinOf } from './compare-twins.ts';
import { html, svg } from './dom.ts';
import { formatMiB, formatMs, formatPercent } from './format.ts';

// The budgets drawn over the plot; undefined ones are not drawn.
export interface PlotBudget {
  latencyMs: number | undefined;
  memoryMb: number | undefined;
  minAccuracy: number | undefined;
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 62, right: 22, top: 26, bottom: 50 };
const MIN_RADIUS = 5;
const MAX_RADIUS = 13;
const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

// The catalog as a scatter plot: dev accuracy against calibrated latency (log x), one mark per operating point,
// its area growing with memory, fp32 as filled circles and int8 as hollow diamonds (each precision with its own
// line, and a legend toggle that hides it); the budgets as lines and shaded regions, the chosen point ringed, and
// the points served recently haloed by their share of traffic.
export class CatalogPlot {
  private catalog: readonly CatalogPoint[] = [];
  private xDomain: [number, number] = [0.1, 10];
  private budget: PlotBudget = { latencyMs: undefined, memoryMb: undefined, minAccuracy: undefined };
  private chosen: string | undefined;
  private traffic: ReadonlyMap<string, number> = new Map();
  // Precisions hidden with the legend's toggles (the chosen point is drawn whatever its precision).
  private readonly hidden = new Set<Precision>();

  constructor(
    private readonly container: HTMLElement,
    private readonly legend: HTMLElement,
  ) {}

  setCatalog(catalog: readonly CatalogPoint[], xDomain: [number, number]): void {
    this.catalog = catalog;
    this.xDomain = xDomain;
    if (!catalog.some((p) => p.id === this.chosen)) this.chosen = undefined;
    if (precisionsOf(catalog).length < 2) this.hidden.clear();
    this.renderLegend();
    this.render();
  }

  setBudget(budget: PlotBudget): void {
    this.budget = budget;
    this.render();
  }

  setChosen(id: string | undefined): void {
    this.chosen = id;
    this.render();
  }

  // Shares of recent traffic (0 to 1) by point id.
  setTraffic(traffic: ReadonlyMap<string, number>): void {
    const same =
      traffic.size === this.traffic.size && [...traffic].every(([id, s]) => this.traffic.get(id) === s);
    if (same) return;
    this.traffic = traffic;
    this.render();
  }

  // Whether a point meets every budget drawn (by its calibrated latency, for one text).
  fits(point: CatalogPoint): boolean {
    const { latencyMs, memoryMb, minAccuracy } = this.budget;
    return (
      (latencyMs === undefined || point.calibratedLatencyMs <= latencyMs) &&
      (memoryMb === undefined || point.memoryBytes / 1024 / 1024 <= memoryMb) &&
      (minAccuracy === undefined || point.devAccuracy >= minAccuracy)
    );
  }

  private render(): void {
    const points = this.catalog;
    if (points.length === 0) {
      this.container.replaceChildren();
      return;
    }
    // The whole catalog sets the frame, so that hiding a precision does not move the axes.
    const frame = plotFrame(points, this.xDomain);
    const shown = points.filter((p) => !this.hidden.has(p.config.precision) || p.id === this.chosen);
    const chart = svg('svg', {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: 'chart',
      role: 'img',
      'aria-label': describeShown(shown),
    });
    drawAxes(chart, frame);
    drawBudgets(chart, frame, this.budget);
    // A line per precision through its points, cheapest to dearest.
    for (const precision of PRECISIONS) {
      const line = shown
        .filter((p) => p.config.precision === precision)
        .sort((a, b) => a.calibratedLatencyMs - b.calibratedLatencyMs);
      if (line.length < 2) continue;
      chart.append(
        svg('polyline', {
          points: line.map((p) => `${frame.x(p.calibratedLatencyMs)},${frame.y(p.devAccuracy)}`).join(' '),
          class: `front ${precision}`,
        }),
      );
    }
    // The points: fp32 first, the hollow int8 marks over them (a twin stays visible through its twin), the chosen
    // one last, on top.
    const layer = (p: CatalogPoint) => (p.id === this.chosen ? 2 : p.config.precision === 'int8' ? 1 : 0);
    const ordered = [...shown].sort(
      (a, b) => layer(a) - layer(b) || a.calibratedLatencyMs - b.calibratedLatencyMs,
    );
    const byId = new Map(points.map((p) => [p.id, p]));
    for (const point of ordered) chart.append(this.pointMark(point, frame, byId));
    this.container.replaceChildren(chart);
  }

  // One point's mark (a filled circle for fp32, a hollow diamond for int8), with its traffic halo and, when
  // chosen, its ring and label.
  private pointMark(
    point: CatalogPoint,
    frame: PlotFrame,
    byId: ReadonlyMap<string, CatalogPoint>,
  ): SVGGElement {
    const px = frame.x(point.calibratedLatencyMs);
    const py = frame.y(point.devAccuracy);
    const r = frame.radius(point.memoryBytes);
    const { precision } = point.config;
    const chosen = point.id === this.chosen;
    const share = this.traffic.get(point.id) ?? 0;
    const group = svg('g', {
      class: `point ${precision}${this.fits(point) ? '' : ' out'}${chosen ? ' chosen' : ''}`,
      'data-point-id': point.id,
      'data-precision': precision,
    });
    if (share > 0) {
      group.append(
        svg('circle', {
          cx: px,
          cy: py,
          r: r + 4 + 8 * share,
          class: 'traffic',
          'stroke-width': 2 + 6 * share,
        }),
      );
    }
    // The diamond reaches a little past its twin's circle at its corners, and the circle past its edges.
    const h = r * 1.25;
    group.append(
      precision === 'int8'
        ? svg('path', {
            d: `M${px} ${py - h}L${px + h} ${py}L${px} ${py + h}L${px - h} ${py}Z`,
            class: 'mark',
          })
        : svg('circle', { cx: px, cy: py, r, class: 'mark' }),
      svg('title', {}, describePoint(point, twinOf(point, byId))),
    );
    if (chosen) {
      const leftSide = px > MARGIN.left + frame.plotW * 0.62;
      group.append(
        svg('circle', { cx: px, cy: py, r: r + 5, class: 'chosen-ring' }),
        svg(
          'text',
          {
            x: px + (leftSide ? -(r + 10) : r + 10),
            y: py - r - 4,
            class: 'chosen-label',
            'text-anchor': leftSide ? 'end' : 'start',
          },
          `chosen: ${point.id}`,
        ),
      );
    }
    return group;
  }

  // The legend, built with the catalog (not on every render, so that a toggle keeps its focus). With both
  // precisions, each one's entry is a checkbox that shows or hides its points.
  private renderLegend(): void {
    const points = this.catalog;
    if (points.length === 0) {
      this.legend.replaceChildren();
      return;
    }
    const swatch = (kind: string) =>
      html('span', { class: `swatch ${kind}`, attrs: { 'aria-hidden': 'true' } });
    const item = (kind: string, text: string) => html('li', {}, swatch(kind), text);
    const precisions = precisionsOf(points);
    const toggle = (precision: Precision) => {
      const count = points.filter((p) => p.config.precision === precision).length;
      const input = html('input', { attrs: { type: 'checkbox', 'data-precision': precision } });
      input.checked = !this.hidden.has(precision);
      input.addEventListener('change', () => {
        if (input.checked) this.hidden.delete(precision);
        else this.hidden.add(precision);
        this.render();
      });
      return html(
        'li',
        { class: 'precision', attrs: { 'data-precision': precision } },
        html(
          'label',
          { attrs: { title: `Show or hide the ${precision} points` } },
          input,
          swatch(precision),
          `${precision} points (${count})`,
        ),
      );
    };
    const memories = points.map((p) => p.memoryBytes);
    this.legend.replaceChildren(
      ...(precisions.length > 1 ? precisions.map(toggle) : precisions.map((p) => item(p, 'operating point'))),
      item(
        'size',
        `area: memory, ${formatMiB(Math.min(...memories))} to ${formatMiB(Math.max(...memories))}`,
      ),
      item('chosen', 'chosen for the last request'),
      item('traffic', 'served in the last minute'),
      item('out', 'outside the budget'),
    );
  }
}

// The precisions a catalog holds, fp32 first.
function precisionsOf(points: readonly CatalogPoint[]): Precision[] {
  return PRECISIONS.filter((precision) => points.some((p) => p.config.precision === precision));
}

// The plot's accessible name: how many points it shows, of which precisions, and their accuracy range.
function describeShown(points: readonly CatalogPoint[]): string {
  if (points.length === 0) return 'No operating points shown: every precision is hidden';
  const accuracies = points.map((p) => p.devAccuracy);
  const counts = precisionsOf(points).map(
    (precision) => `${points.filter((p) => p.config.precision === precision).length} ${precision}`,
  );
  return `${points.length} operating points (${counts.join(', ')}): dev accuracy from ${formatPercent(Math.min(...accuracies))} to ${formatPercent(Math.max(...accuracies))}`;
}

// A point's tooltip; an int8 point's says what it saves against its fp32 twin.
function describePoint(p: CatalogPoint, twin: CatalogPoint | undefined): string {
  const layers = p.config.layers.map((l) => `${l.heads}h/${l.ffn}`).join(' ');
  return [
    `${p.id} (${p.config.precision})`,
    `dev accuracy ${formatPercent(p.devAccuracy, 2)}${p.testAccuracy === null ? '' : `, test ${formatPercent(p.testAccuracy, 2)}`}`,
    `latency ${formatMs(p.calibratedLatencyMs)} calibrated, ${formatMs(p.latencyMs)} predicted now`,
    `memory ${formatMiB(p.memoryBytes)}, ${(p.flops / 1e6).toFixed(1)} MFLOPs, ${(p.params / 1e6).toFixed(2)} M parameters`,
    `${p.config.layers.length} layers (${layers}), ${p.config.tokens} tokens`,
    ...(twin === undefined ? [] : [compareTwins(p, twin)]),
  ].join('\n');
}

// Where things go on the plot: the plotting area, the scales from latency and accuracy to it, and a mark's radius
// from its memory.
interface PlotFrame {
  xDomain: [number, number];
  yLo: number;
  yHi: number;
  plotW: number;
  plotH: number;
  right: number;
  bottom: number;
  x: (ms: number) => number;
  y: (accuracy: number) => number;
  radius: (bytes: number) => number;
}

// The frame for these points: latency on a log scale over the domain given, accuracy padded around the points'.
function plotFrame(points: readonly CatalogPoint[], xDomain: [number, number]): PlotFrame {
  const [lo, hi] = xDomain;
  const accuracies = points.map((p) => p.devAccuracy);
  const pad = Math.max(0.005, (Math.max(...accuracies) - Math.min(...accuracies)) * 0.15);
  const yLo = Math.min(...accuracies) - pad;
  const yHi = Math.max(...accuracies) + pad;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const memories = points.map((p) => p.memoryBytes);
  const minMem = Math.min(...memories);
  const maxMem = Math.max(...memories);
  return {
    xDomain,
    yLo,
    yHi,
    plotW,
    plotH,
    right: WIDTH - MARGIN.right,
    bottom: HEIGHT - MARGIN.bottom,
    x: (ms) =>
      MARGIN.left + ((Math.log(clamp(ms, lo, hi)) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW,
    y: (acc) => MARGIN.top + ((yHi - clamp(acc, yLo, yHi)) / (yHi - yLo)) * plotH,
    radius: (bytes) =>
      maxMem === minMem
        ? (MIN_RADIUS + MAX_RADIUS) / 2
        : MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * Math.sqrt((bytes - minMem) / (maxMem - minMem)),
  };
}

// Grid, ticks, frame and axis labels.
function drawAxes(chart: SVGSVGElement, frame: PlotFrame): void {
  const { x, y, plotW, plotH, right, bottom } = frame;
  for (const tick of logTicks(...frame.xDomain)) {
    const tx = x(tick);
    chart.append(
      svg('line', { x1: tx, x2: tx, y1: MARGIN.top, y2: bottom, class: 'grid' }),
      svg('text', { x: tx, y: bottom + 18, class: 'tick', 'text-anchor': 'middle' }, formatTick(tick)),
    );
  }
  for (const tick of linearTicks(frame.yLo, frame.yHi)) {
    const ty = y(tick.value);
    chart.append(
      svg('line', { x1: MARGIN.left, x2: right, y1: ty, y2: ty, class: 'grid' }),
      svg('text', { x: MARGIN.left - 8, y: ty + 4, class: 'tick', 'text-anchor': 'end' }, tick.label),
    );
  }
  chart.append(
    svg('rect', { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, class: 'frame' }),
    svg(
      'text',
      { x: MARGIN.left + plotW / 2, y: HEIGHT - 10, class: 'axis-label', 'text-anchor': 'middle' },
      'latency on this host, one text (ms, log scale)',
    ),
    svg(
      'text',
      {
        x: 16,
        y: MARGIN.top + plotH / 2,
        class: 'axis-label',
        'text-anchor': 'middle',
        transform: `rotate(-90 16 ${MARGIN.top + plotH / 2})`,
      },
      'dev accuracy',
    ),
  );
}

// The latency budget and the accuracy floor as lines, with what lies beyond them shaded.
function drawBudgets(chart: SVGSVGElement, frame: PlotFrame, budget: PlotBudget): void {
  const { x, y, plotW, plotH, right, bottom } = frame;
  const { latencyMs, minAccuracy } = budget;
  if (latencyMs !== undefined) {
    const bx = x(latencyMs);
    chart.append(
      svg('rect', { x: bx, y: MARGIN.top, width: right - bx, height: plotH, class: 'shade' }),
      svg('line', { x1: bx, x2: bx, y1: MARGIN.top, y2: bottom, class: 'budget-line' }),
      svg(
        'text',
        {
          x: bx + (bx > right - 140 ? -6 : 6),
          y: MARGIN.top + 14,
          class: 'budget-label',
          'text-anchor': bx > right - 140 ? 'end' : 'start',
        },
        `latency budget ${formatMs(latencyMs)}`,
      ),
    );
  }
  if (minAccuracy !== undefined && minAccuracy > frame.yLo) {
    const fy = y(minAccuracy);
    chart.append(
      svg('rect', { x: MARGIN.left, y: fy, width: plotW, height: bottom - fy, class: 'shade' }),
      svg('line', { x1: MARGIN.left, x2: right, y1: fy, y2: fy, class: 'floor-line' }),
      svg(
        'text',
        { x: right - 6, y: fy - 6, class: 'floor-label', 'text-anchor': 'end' },
        `accuracy floor ${formatPercent(minAccuracy)}`,
      ),
    );
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

// 1-2-5 ticks per decade within [lo, hi] (every integer multiple when the range is narrow).
export function logTicks(lo: number, hi: number): number[] {
  const ticks = (multiples: number[]) => {
    const found: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of multiples) {
        const v = Number((m * 10 ** k).toPrecision(6));
        if (v >= lo && v <= hi) found.push(v);
      }
    }
    return found;
  };
  const coarse = ticks([1, 2, 5]);
  return coarse.length >= 3 ? coarse : ticks([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

function formatTick(ms: number): string {
  return `${Number(ms.toPrecision(2))}`;
}

// Evenly spaced accuracy ticks (at most about six), labelled in percent.
export function linearTicks(lo: number, hi: number): Array<{ value: number; label: string }> {
  const steps = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2];
  const step = steps.find((s) => (hi - lo) / s <= 6) ?? 0.25;
  // Enough decimals for the step: 0.25% needs two, 0.5% and 2.5% one.
  const digits = step === 0.0025 ? 2 : step < 0.01 || step === 0.025 ? 1 : 0;
  const ticks: Array<{ value: number; label: string }> = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + 1e-9; i++) {
    const value = i * step;
    ticks.push({ value, label: `${(value * 100).toFixed(digits)}%` });
  }
  return ticks;
}
