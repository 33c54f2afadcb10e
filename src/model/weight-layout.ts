import { encoderForm, type SubnetConfig, type SupernetConfig } from './config.ts';

// The name and shape of one weight tensor.
export interface WeightSpec {
  name: string;
  shape: number[];
  // How it is initialized: normal(0, 0.02), zeros, or ones.
  init: 'normal' | 'zeros' | 'ones';
}

// Per-layer parts, in a fixed order (the optimizer matches state to variables by position).
const LAYER_PARTS = [
  'attention.norm.gamma',
  'attention.norm.beta',
  'attention.query.kernel',
  'attention.query.bias',
  'attention.key.kernel',
  'attention.key.bias',
  'attention.value.kernel',
  'attention.value.bias',
  'attention.output.kernel',
  'attention.output.bias',
  'ffn.norm.gamma',
  'ffn.norm.beta',
  'ffn.input.kernel',
  'ffn.input.bias',
  'ffn.output.kernel',
  'ffn.output.bias',
] as const;
export type LayerPart = (typeof LAYER_PARTS)[number];

// The name of a layer's weight: `layers.{index}.{part}`.
export function layerWeightName(index: number, part: LayerPart): string {
  return `layers.${index}.${part}`;
}

// Shapes of one layer's weights for a given number of heads and FFN width.
function layerSpecs(index: number, hidden: number, attention: number, ffn: number): WeightSpec[] {
  const shapes: Record<LayerPart, number[]> = {
    'attention.norm.gamma': [hidden],
    'attention.norm.beta': [hidden],
    'attention.query.kernel': [hidden, attention],
    'attention.query.bias': [attention],
    'attention.key.kernel': [hidden, attention],
    'attention.key.bias': [attention],
    'attention.value.kernel': [hidden, attention],
    'attention.value.bias': [attention],
    'attention.output.kernel': [attention, hidden],
    'attention.output.bias': [hidden],
    'ffn.norm.gamma': [hidden],
    'ffn.norm.beta': [hidden],
    'ffn.input.kernel': [hidden, ffn],
    'ffn.input.bias': [ffn],
    'ffn.output.kernel': [ffn, hidden],
    'ffn.output.bias': [hidden],
  };
  return LAYER_PARTS.map((part) => ({
    name: layerWeightName(index, part),
    shape: shapes[part],
    init: part.endsWith('gamma') ? 'ones' : part.endsWith('kernel') ? 'normal' : 'zeros',
  }));
}

// Every weight of a model whose layers have the given widths, in a fixed order.
function modelSpecs(config: SupernetConfig, widths: Array<{ heads: number; ffn: number }>): WeightSpec[] {
  const h = config.hiddenSize;
  const types: WeightSpec[] =
    config.typeVocabSize === undefined
      ? []
      : [{ name: 'embeddings.type', shape: [config.typeVocabSize, h], init: 'normal' }];
  return [
    { name: 'embeddings.token', shape: [config.vocabSize, h], init: 'normal' },
    { name: 'embeddings.position', shape: [config.maxTokens, h], init: 'normal' },
    ...types,
    { name: 'embeddings.norm.gamma', shape: [h], init: 'ones' },
    { name: 'embeddings.norm.beta', shape: [h], init: 'zeros' },
    ...widths.flatMap((w, i) => layerSpecs(i, h, w.heads * config.headSize, w.ffn)),
    // The BERT form normalizes after every residual add, so it has no final LayerNorm.
    ...(encoderForm(config) === 'bert'
      ? []
      : [
          { name: 'final.norm.gamma', shape: [h], init: 'ones' as const },
          { name: 'final.norm.beta', shape: [h], init: 'zeros' as const },
        ]),
    { name: 'pooler.kernel', shape: [h, h], init: 'normal' },
    { name: 'pooler.bias', shape: [h], init: 'zeros' },
    { name: 'classifier.kernel', shape: [h, config.numLabels], init: 'normal' },
    { name: 'classifier.bias', shape: [config.numLabels], init: 'zeros' },
  ];
}

// The supernet's weights at their largest shapes.
export function supernetWeightLayout(config: SupernetConfig): WeightSpec[] {
  return modelSpecs(
    config,
    Array.from({ length: config.maxLayers }, () => ({ heads: config.maxHeads, ffn: config.maxFfn })),
  );
}

// A materialized subnet's weights: its k-th layer is named `layers.{k}` whatever supernet layer it came from.
export function subnetWeightLayout(config: SupernetConfig, subnet: SubnetConfig): WeightSpec[] {
  return modelSpecs(config, subnet.layers);
}

// The supernet weight a subnet-layout weight is sliced from: `layers.{k}.x` -> `layers.{subnet.layers[k].layer}.x`.
export function supernetWeightName(subnet: SubnetConfig, subnetName: string): string {
  return subnetName.replace(
    /^layers\.(\d+)\./,
    (_, k: string) => `layers.${subnet.layers[Number(k)]!.layer}.`,
  );
}
