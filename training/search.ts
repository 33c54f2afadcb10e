import {
  type CatalogPoint,
  formatOperatingPointId,
  type OperatingPoint,
  type SupernetConfig,
} from '../src/model/config.ts';
import type { Rng } from '../src/model/random.ts';
import type { SearchSpace } from './config.ts';
import { crossoverPoints, extremeSubnet, mutatePoint, samplePoint } from './search-space.ts';

// A catalog point as the search scores it: its cost, and its dev accuracy (on the search's dev slice, later on all
// of dev), always measured.
export type SearchPoint = CatalogPoint & { devAccuracy: NonNullable<CatalogPoint['devAccuracy']> };

export interface SearchSettings {
  space: SearchSpace;
  config: SupernetConfig;
  rng: Rng;
  population: number;
  generations: number;
  mutationRate: number;
  cost: (point: OperatingPoint) => Pick<CatalogPoint, 'params' | 'flops' | 'referenceTokens'>;
  evaluate: (point: OperatingPoint) => Promise<number>;
  onEvaluated?: (scored: SearchPoint, evaluated: number) => void;
}

// Evolutionary search for the accuracy-versus-cost Pareto front (NSGA-II style: non-dominated sorting, crowding,
// tournament selection, crossover and mutation). Returns every point it evaluated.
export async function searchFront(settings: SearchSettings): Promise<SearchPoint[]> {
  const { space, config, rng } = settings;
  const archive = new Map<string, SearchPoint>();
  const score = async (point: OperatingPoint): Promise<SearchPoint> => {
    const id = formatOperatingPointId(point);
    const known = archive.get(id);
    if (known) return known;
    const scored: SearchPoint = {
      id,
      subnet: point.subnet,
      tokens: point.tokens,
      ...settings.cost(point),
      devAccuracy: await settings.evaluate(point),
    };
    archive.set(id, scored);
    settings.onEvaluated?.(scored, archive.size);
    return scored;
  };

  // Seed with the extremes at every length, then random points.
  const seeds: OperatingPoint[] = [];
  for (const tokens of space.tokenChoices) {
    seeds.push({ subnet: extremeSubnet(space, config, 'largest'), tokens });
    seeds.push({ subnet: extremeSubnet(space, config, 'smallest'), tokens });
  }
  for (let tries = 0; seeds.length < settings.population && tries < settings.population * 20; tries++) {
    const p = samplePoint(space, config, rng);
    if (!seeds.some((s) => formatOperatingPointId(s) === formatOperatingPointId(p))) seeds.push(p);
  }
  let population: SearchPoint[] = [];
  for (const p of seeds) population.push(await score(p));

  for (let g = 0; g < settings.generations; g++) {
    const ranked = rankPopulation(population);
    const children: SearchPoint[] = [];
    for (let c = 0; c < settings.population; c++) {
      const a = tournament(ranked, rng);
      const b = tournament(ranked, rng);
      let child = mutatePoint(crossoverPoints(a, b, rng), space, config, rng, settings.mutationRate);
      for (let retry = 0; retry < 8 && archive.has(formatOperatingPointId(child)); retry++) {
        child = mutatePoint(child, space, config, rng, Math.max(settings.mutationRate, 0.5));
      }
      children.push(await score(child));
    }
    population = rankPopulation(dedupe([...population, ...children]))
      .slice(0, settings.population)
      .map((r) => r.scored);
  }
  return [...archive.values()];
}

// The non-dominated points, cheapest first: each strictly more accurate than every cheaper one.
export function paretoFront(points: readonly SearchPoint[]): SearchPoint[] {
  const sorted = [...points].sort((a, b) => a.flops - b.flops || b.devAccuracy - a.devAccuracy);
  const front: SearchPoint[] = [];
  for (const p of sorted)
    if (front.length === 0 || p.devAccuracy > front[front.length - 1]!.devAccuracy) front.push(p);
  return front;
}

// The catalog's front: the Pareto front of the points that reach the accuracy floor. When none does, the most
// accurate point alone, so that a run that fell short still publishes something to look at.
export function catalogFront(points: readonly SearchPoint[], floor: number): SearchPoint[] {
  const front = paretoFront(points.filter((p) => p.devAccuracy >= floor));
  return front.length > 0 ? front : paretoFront(points).slice(-1);
}

// The catalog's fronts when points come in several precisions: catalogFront of each precision's points, each
// spread to at most `max` points, together, cheapest first. An int8 point costs the FLOPs of its fp32 twin and is
// rarely more accurate, so one front over both would drop it; kept on its own front, serving can choose it when
// memory (or, on hosts with int8 dot products, latency) matters.
export function precisionFronts(points: readonly SearchPoint[], floor: number, max: number): SearchPoint[] {
  const byPrecision = new Map<string, SearchPoint[]>();
  for (const p of points) {
    const key = p.precision ?? 'fp32';
    byPrecision.set(key, [...(byPrecision.get(key) ?? []), p]);
  }
  return [...byPrecision.values()]
    .flatMap((group) => spreadCatalog(catalogFront(group, floor), max))
    .sort((a, b) => a.flops - b.flops || (a.id < b.id ? -1 : 1));
}

// Points that the search's small dev slice cannot tell from the front: within `tolerance` of the best accuracy of
// every point at most as costly. The catalog is chosen among them once they are measured on all of dev, so that a
// point a noisy slice put just behind a cheaper one still gets its chance. Cheapest first.
export function nearFront(points: readonly SearchPoint[], tolerance: number): SearchPoint[] {
  const sorted = [...points].sort((a, b) => a.flops - b.flops || b.devAccuracy - a.devAccuracy);
  const near: SearchPoint[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const p of sorted) {
    if (p.devAccuracy >= best - tolerance) near.push(p);
    best = Math.max(best, p.devAccuracy);
  }
  return near;
}

// One standard error of an accuracy near `accuracy` measured on `examples` examples.
export function standardError(accuracy: number, examples: number): number {
  return Math.sqrt((accuracy * (1 - accuracy)) / Math.max(1, examples));
}

// Up to `max` points of the front spread evenly in log-cost from cheapest to most accurate (both kept).
export function spreadCatalog(front: readonly SearchPoint[], max: number): SearchPoint[] {
  if (front.length <= max) return [...front];
  const lo = Math.log(front[0]!.flops);
  const hi = Math.log(front[front.length - 1]!.flops);
  const chosen = new Set<SearchPoint>();
  for (let k = 0; k < max; k++) {
    const target = lo + ((hi - lo) * k) / (max - 1);
    const distance = (p: SearchPoint) => Math.abs(Math.log(p.flops) - target);
    const best = front.filter((p) => !chosen.has(p)).reduce((a, b) => (distance(b) < distance(a) ? b : a));
    chosen.add(best);
  }
  return front.filter((p) => chosen.has(p));
}

interface Ranked {
  scored: SearchPoint;
  rank: number;
  crowding: number;
}

// Non-dominated sorting (minimize FLOPs, maximize accuracy), then crowding distance within each front.
function rankPopulation(points: readonly SearchPoint[]): Ranked[] {
  let remaining = [...points];
  const ranked: Ranked[] = [];
  for (let rank = 0; remaining.length > 0; rank++) {
    const front = remaining.filter((p) => !remaining.some((q) => dominates(q, p)));
    const byCost = [...front].sort((a, b) => a.flops - b.flops);
    const span = byCost[byCost.length - 1]!.flops - byCost[0]!.flops || 1;
    byCost.forEach((p, i) => {
      const edge = i === 0 || i === byCost.length - 1;
      const crowding = edge ? Number.POSITIVE_INFINITY : (byCost[i + 1]!.flops - byCost[i - 1]!.flops) / span;
      ranked.push({ scored: p, rank, crowding });
    });
    remaining = remaining.filter((p) => !front.includes(p));
  }
  return ranked.sort((a, b) => a.rank - b.rank || b.crowding - a.crowding);
}

function dominates(a: SearchPoint, b: SearchPoint): boolean {
  return (
    a.flops <= b.flops &&
    a.devAccuracy >= b.devAccuracy &&
    (a.flops < b.flops || a.devAccuracy > b.devAccuracy)
  );
}

function tournament(ranked: readonly Ranked[], rng: Rng): SearchPoint {
  const a = ranked[rng.int(ranked.length)]!;
  const b = ranked[rng.int(ranked.length)]!;
  if (a.rank !== b.rank) return (a.rank < b.rank ? a : b).scored;
  return (a.crowding >= b.crowding ? a : b).scored;
}

function dedupe(points: readonly SearchPoint[]): SearchPoint[] {
  const seen = new Map<string, SearchPoint>();
  for (const p of points) seen.set(p.id, p);
  return [...seen.values()];
}
