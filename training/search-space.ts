import type { OperatingPoint, SubnetConfig, SupernetConfig } from '../src/model/config.ts';
import type { Rng } from '../src/model/random.ts';
import type { SearchSpace } from './config.ts';

// The supernet layers a subnet of `depth` layers keeps: spread evenly, the first always kept (DynaBERT keeps
// layers spread across the stack rather than a prefix).
export function layersForDepth(depth: number, maxLayers: number): number[] {
  return Array.from({ length: depth }, (_, i) => Math.floor((i * maxLayers) / depth));
}

// A full-depth subnet at a width multiplier: heads and neurons scaled alike in every layer (width stage).
export function widthSubnet(config: SupernetConfig, multiplier: number): SubnetConfig {
  const heads = Math.max(1, Math.round(multiplier * config.maxHeads));
  const ffn = Math.max(1, Math.round(multiplier * config.maxFfn));
  return { layers: Array.from({ length: config.maxLayers }, (_, layer) => ({ layer, heads, ffn })) };
}

// The largest and smallest subnets of the search space (the bread of the sandwich rule).
export function extremeSubnet(
  space: SearchSpace,
  config: SupernetConfig,
  which: 'largest' | 'smallest',
): SubnetConfig {
  const pick = which === 'largest' ? Math.max : Math.min;
  const depth = pick(...space.depthChoices);
  const heads = pick(...space.headChoices);
  const ffn = pick(...space.ffnChoices);
  return { layers: layersForDepth(depth, config.maxLayers).map((layer) => ({ layer, heads, ffn })) };
}

// A random subnet: a depth, then each kept layer's heads and FFN width drawn independently (YOCO-style
// heterogeneous layers).
export function sampleSubnet(space: SearchSpace, config: SupernetConfig, rng: Rng): SubnetConfig {
  const depth = rng.pick(space.depthChoices);
  return {
    layers: layersForDepth(depth, config.maxLayers).map((layer) => ({
      layer,
      heads: rng.pick(space.headChoices),
      ffn: rng.pick(space.ffnChoices),
    })),
  };
}

export function samplePoint(space: SearchSpace, config: SupernetConfig, rng: Rng): OperatingPoint {
  return { subnet: sampleSubnet(space, config, rng), tokens: rng.pick(space.tokenChoices) };
}

// One mutation: each gene (depth, each layer's heads and width, the token length) resampled with probability p.
export function mutatePoint(
  point: OperatingPoint,
  space: SearchSpace,
  config: SupernetConfig,
  rng: Rng,
  p: number,
): OperatingPoint {
  let layers = point.subnet.layers.map((l) => ({ ...l }));
  if (rng.next() < p) {
    const depth = rng.pick(space.depthChoices);
    layers = layersForDepth(depth, config.maxLayers).map((layer, k) => {
      const source = layers[Math.min(k, layers.length - 1)]!;
      return { layer, heads: source.heads, ffn: source.ffn };
    });
  }
  for (const l of layers) {
    if (rng.next() < p) l.heads = rng.pick(space.headChoices);
    if (rng.next() < p) l.ffn = rng.pick(space.ffnChoices);
  }
  const tokens = rng.next() < p ? rng.pick(space.tokenChoices) : point.tokens;
  return { subnet: { layers }, tokens };
}

// Uniform crossover of two points of the same depth; otherwise the first parent's shape.
export function crossoverPoints(a: OperatingPoint, b: OperatingPoint, rng: Rng): OperatingPoint {
  const layers = a.subnet.layers.map((l, k) => {
    const other = b.subnet.layers[k];
    if (!other || other.layer !== l.layer) return { ...l };
    return {
      layer: l.layer,
      heads: rng.next() < 0.5 ? l.heads : other.heads,
      ffn: rng.next() < 0.5 ? l.ffn : other.ffn,
    };
  });
  return { subnet: { layers }, tokens: rng.next() < 0.5 ? a.tokens : b.tokens };
}
