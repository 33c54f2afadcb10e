import { z } from 'zod';
import { ModelError } from '../errors.ts';

// The supernet's architecture maxima: every subnet is a prefix slice of these shapes.
export const SupernetConfigSchema = z
  .object({
    vocabSize: z.number().int().min(5),
    hiddenSize: z.number().int().positive(),
    // Position embeddings: the longest input, [CLS] and [SEP] included.
    maxTokens: z.number().int().min(2),
    maxLayers: z.number().int().positive(),
    maxHeads: z.number().int().positive(),
    headSize: z.number().int().positive(),
    maxFfn: z.number().int().positive(),
    numLabels: z.number().int().min(2),
    // Token-type (segment) embeddings, for text pairs: type 0 for the first text, 1 for the second. Absent: a
    // single-text model, with no such weights.
    typeVocabSize: z.number().int().min(1).max(16).optional(),
    layerNormEps: z.number().positive().max(0.1).default(1e-5),
    // How the encoder is wired. `pre-ln` (the default, trained from scratch): LayerNorm before attention and FFN,
    // tanh-approximate GELU, a final LayerNorm, masked mean pooling. `bert` (imported from a BERT checkpoint):
    // LayerNorm after each residual add, exact (erf) GELU, no final LayerNorm, the pooler on [CLS].
    form: z.enum(['pre-ln', 'bert']).optional(),
  })
  .strict();
export type SupernetConfig = z.infer<typeof SupernetConfigSchema>;
export type EncoderForm = NonNullable<SupernetConfig['form']>;

// The encoder form of a config (absent: pre-ln, as every artifact written before the BERT form).
export function encoderForm(config: Pick<SupernetConfig, 'form'>): EncoderForm {
  return config.form ?? 'pre-ln';
}

// One transformer layer of a subnet: which supernet layer runs, with how many heads and FFN neurons.
export const SubnetLayerSchema = z
  .object({
    layer: z.number().int().nonnegative(),
    heads: z.number().int().positive(),
    ffn: z.number().int().positive(),
  })
  .strict();
export type SubnetLayer = z.infer<typeof SubnetLayerSchema>;

// One choice in the search space: the layers that run (ascending supernet indices), each with its width.
export const SubnetConfigSchema = z
  .object({ layers: z.array(SubnetLayerSchema).min(1) })
  .strict()
  .refine((c) => c.layers.every((l, i) => i === 0 || l.layer > c.layers[i - 1]!.layer), {
    message: 'layers must be in strictly ascending order of their supernet index',
  });
export type SubnetConfig = z.infer<typeof SubnetConfigSchema>;

// The numeric precision a subnet runs in: `fp32` everywhere, or `int8` matmul weights (per output channel,
// symmetric) with activations quantized on the fly, LayerNorm, softmax and embeddings staying float.
export const PRECISIONS = ['fp32', 'int8'] as const;
export const PrecisionSchema = z.enum(PRECISIONS);
export type Precision = z.infer<typeof PrecisionSchema>;

// A catalog operating point: a subnet read to at most `tokens` tokens ([CLS] and [SEP] included), in a precision
// (absent: fp32).
export const OperatingPointSchema = z
  .object({
    subnet: SubnetConfigSchema,
    tokens: z.number().int().min(2),
    precision: PrecisionSchema.optional(),
  })
  .strict();
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;

// A point's precision, absent meaning fp32 (every artifact written before int8 points).
export function pointPrecision(point: { precision?: Precision | undefined }): Precision {
  return point.precision ?? 'fp32';
}

const count = z.number().int().nonnegative();

// An operating point as the catalog records it: the point (subnet and tokens), its id, and what training
// measured of it. The one shape training's search builds, the artifact stores (manifest.json's `catalog`) and
// serving selects from.
export const CatalogPointSchema = z
  .object({
    id: z.string().min(1).max(600),
    subnet: SubnetConfigSchema,
    tokens: z.number().int().min(2),
    // Absent: fp32.
    precision: PrecisionSchema.optional(),
    params: count,
    // FLOPs of one text at `referenceTokens` tokens.
    flops: count,
    referenceTokens: z.number().int().min(2),
    // Unknown (null) for an imported checkpoint published without labelled data to measure it on.
    devAccuracy: z.number().min(0).max(1).nullable(),
    testAccuracy: z.number().min(0).max(1).optional(),
    // The mean over labels of each label's F1 (imbalanced tasks); absent from artifacts published before it.
    devMacroF1: z.number().min(0).max(1).optional(),
    testMacroF1: z.number().min(0).max(1).optional(),
    // Latency measured at training time, and on what host.
    latencyMs: z.number().nonnegative().optional(),
    latencyHost: z.string().min(1).max(256).optional(),
  })
  .strict()
  .refine((e) => e.id === formatOperatingPointId(e), {
    message: 'id must be formatOperatingPointId({ subnet, tokens, precision })',
    path: ['id'],
  });
export type CatalogPoint = z.infer<typeof CatalogPointSchema>;

const LAYER_ID = /^(\d{1,3})h(\d{1,4})f(\d{1,6})$/;
const POINT_ID = /^(.+)-t(\d{1,6})(-int8)?$/;

// The canonical id of a subnet: one `{layer}h{heads}f{ffn}` token per layer, joined by '.'.
// Only [0-9a-z.] so it is safe in URLs and headers: `0h4f1024.2h2f512`.
export function formatSubnetId(subnet: SubnetConfig): string {
  return subnet.layers.map((l) => `${l.layer}h${l.heads}f${l.ffn}`).join('.');
}

// Parses a subnet id; throws INVALID_SUBNET_ID naming the bad part. `parseSubnetId(formatSubnetId(c))` equals c.
export function parseSubnetId(id: string): SubnetConfig {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) {
    throw new ModelError(
      'INVALID_SUBNET_ID',
      `subnet id must be a non-empty string of at most 512 characters`,
    );
  }
  const layers = id.split('.').map((part) => {
    const m = LAYER_ID.exec(part);
    if (!m) {
      throw new ModelError(
        'INVALID_SUBNET_ID',
        `subnet id '${truncate(id)}': '${truncate(part)}' is not of the form {layer}h{heads}f{ffn}, e.g. 0h4f1024`,
      );
    }
    return { layer: Number(m[1]), heads: Number(m[2]), ffn: Number(m[3]) };
  });
  const parsed = SubnetConfigSchema.safeParse({ layers });
  if (!parsed.success) {
    throw new ModelError(
      'INVALID_SUBNET_ID',
      `subnet id '${truncate(id)}': ${parsed.error.issues[0]?.message}`,
    );
  }
  if (formatSubnetId(parsed.data) !== id) {
    throw new ModelError(
      'INVALID_SUBNET_ID',
      `subnet id '${truncate(id)}' is not canonical (no leading zeros)`,
    );
  }
  return parsed.data;
}

// The canonical id of an operating point: `{subnetId}-t{tokens}`, with `-int8` for an int8 point.
export function formatOperatingPointId(point: OperatingPoint): string {
  const suffix = pointPrecision(point) === 'int8' ? '-int8' : '';
  return `${formatSubnetId(point.subnet)}-t${point.tokens}${suffix}`;
}

// The id of a subnet in a precision: the subnet id, with `-int8` for int8 (what engines and caches key on).
export function formatSubnetPrecisionId(subnet: SubnetConfig, precision: Precision): string {
  return precision === 'int8' ? `${formatSubnetId(subnet)}-int8` : formatSubnetId(subnet);
}

export function parseOperatingPointId(id: string): OperatingPoint {
  const m = typeof id === 'string' ? POINT_ID.exec(id) : null;
  if (!m) {
    throw new ModelError(
      'INVALID_SUBNET_ID',
      `operating point id '${truncate(String(id))}' is not of the form {subnetId}-t{tokens}[-int8]`,
    );
  }
  const tokens = Number(m[2]);
  if (tokens < 2 || `${tokens}` !== m[2]) {
    throw new ModelError(
      'INVALID_SUBNET_ID',
      `operating point id '${truncate(id)}': bad token count '${m[2]}'`,
    );
  }
  const subnet = parseSubnetId(m[1]!);
  return m[3] ? { subnet, tokens, precision: 'int8' } : { subnet, tokens };
}

// Validates a supernet config from untrusted input (a manifest, a training config) with a named error.
export function parseSupernetConfig(value: unknown): SupernetConfig {
  const parsed = SupernetConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(
      'INVALID_SUPERNET_CONFIG',
      `supernet config: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

// Throws SUBNET_OUT_OF_RANGE when the subnet asks for a layer, head or neuron the supernet does not have.
export function assertSubnetFits(supernet: SupernetConfig, subnet: SubnetConfig): void {
  const parsed = SubnetConfigSchema.safeParse(subnet);
  if (!parsed.success) {
    throw new ModelError('INVALID_SUBNET', `subnet: ${parsed.error.issues[0]?.message}`);
  }
  for (const l of subnet.layers) {
    const where = `subnet ${formatSubnetId(subnet)}`;
    if (l.layer >= supernet.maxLayers) {
      throw new ModelError(
        'SUBNET_OUT_OF_RANGE',
        `${where}: layer ${l.layer} does not exist (the supernet has ${supernet.maxLayers} layers, 0-${supernet.maxLayers - 1})`,
      );
    }
    if (l.heads > supernet.maxHeads) {
      throw new ModelError(
        'SUBNET_OUT_OF_RANGE',
        `${where}: layer ${l.layer} asks for ${l.heads} heads, the supernet has ${supernet.maxHeads}`,
      );
    }
    if (l.ffn > supernet.maxFfn) {
      throw new ModelError(
        'SUBNET_OUT_OF_RANGE',
        `${where}: layer ${l.layer} asks for FFN width ${l.ffn}, the supernet has ${supernet.maxFfn}`,
      );
    }
  }
}

// The largest subnet: every layer, every head, every neuron.
export function largestSubnet(supernet: SupernetConfig): SubnetConfig {
  return {
    layers: Array.from({ length: supernet.maxLayers }, (_, layer) => ({
      layer,
      heads: supernet.maxHeads,
      ffn: supernet.maxFfn,
    })),
  };
}

function truncate(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}
