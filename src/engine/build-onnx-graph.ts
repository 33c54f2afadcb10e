import onnxProto from 'onnx-proto';
import {
  assertSubnetFits,
  encoderForm,
  formatSubnetId,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../model/config.ts';
import { isQuantizedWeight, type QuantizedKernel, quantizeKernel } from '../model/quantize.ts';
import { checkWeights, type WeightSource } from '../model/weight-checks.ts';
import { subnetWeightLayout } from '../model/weight-layout.ts';
import type { WeightTensor } from '../model/weights.ts';

const { onnx } = onnxProto;

// The graph's interface: int32 [batch, tokens] ids and mask (1 on real tokens), and token types on a pair
// model (0 first text, 1 second); float32 [batch, labels] logits.
export const ONNX_INPUT_IDS = 'input_ids';
export const ONNX_ATTENTION_MASK = 'attention_mask';
export const ONNX_TOKEN_TYPE_IDS = 'token_type_ids';
// The token embedding table as an input (float32 [vocab, hidden]) when the graph is built to take it.
export const ONNX_TOKEN_EMBEDDINGS = 'token_embeddings';
export const ONNX_LOGITS = 'logits';
export const ONNX_OPSET = 20;
// IR version 9 is the one that goes with opset 20 (onnx 1.15).
const IR_VERSION = 9;
const MASKED_SCORE = -1e9;
const MICROSOFT = 'com.microsoft';
const INT32 = onnx.TensorProto.DataType.INT32;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

// How an int8 matmul is written: standard ONNX operators (MatMulInteger, then a float rescale: the default, which
// any ONNX runtime loads), or onnxruntime's contrib op (`com.microsoft` MatMulIntegerToFloat). onnxruntime's
// optimizer rewrites the standard form into that op: both give the same logits at the same speed (docs/results.md).
export type Int8MatMul = 'contrib' | 'standard';

// How attention is written. `plain`: standard ONNX operators only (separate Q, K and V matmuls, then the heads'
// products and softmax), what any ONNX runtime loads: the reference. `fused`: each layer's attention is one
// onnxruntime contrib op (`com.microsoft` Attention, QAttention in int8) over packed Q/K/V weights and the raw
// mask, which onnxruntime's CPU provider runs faster; the logits are the same (docs/results.md).
export type GraphForm = 'plain' | 'fused';
export const GRAPH_FORMS: readonly GraphForm[] = ['plain', 'fused'];

export interface OnnxGraphOptions {
  precision?: Precision; // default fp32
  int8MatMul?: Int8MatMul; // default standard
  form?: GraphForm; // default plain
  tokenTable?: TokenTable; // default initializer
}

// Where the graph finds the token embedding table: inside it, an initializer (a self-contained file, what
// export writes), or an input fed at each call (ONNX_TOKEN_EMBEDDINGS). Every subnet of a model reads the same
// table, so the engine feeds one array to all of their sessions instead of each session holding a copy: for a
// small subnet the table is most of its weights (30,522 x 128 floats, 15.6 MB, for the bundled model).
export type TokenTable = 'initializer' | 'input';

// An ONNX model (opset 20) computing what src/model/encoder.ts computes for one subnet, from weights in the
// subnet's layout. Batch and sequence dims are dynamic. fp32 matches the tfjs forward; int8 quantizes each encoder
// layer's six matmul kernels per output channel (symmetric) and their inputs per call (DynamicQuantizeLinear:
// uint8, one scale per tensor), everything else float. Returns the serialized ModelProto; its metadata_props hold
// `subnet_id`, `precision`, `form` and `metadata`.
export function buildOnnxGraph(
  config: SupernetConfig,
  subnet: SubnetConfig,
  weights: WeightSource,
  metadata: Record<string, string> = {},
  options: OnnxGraphOptions = {},
): Uint8Array {
  const { precision = 'fp32', int8MatMul = 'standard', form = 'plain', tokenTable = 'initializer' } = options;
  assertSubnetFits(config, subnet);
  const id = formatSubnetId(subnet);
  const w = checkWeights(subnetWeightLayout(config, subnet), weights, `subnet ${id}`);
  const g = new GraphBuilder();
  const h = config.hiddenSize;
  const d = config.headSize;
  const eps = config.layerNormEps;
  const bert = encoderForm(config) === 'bert';
  const weight = (name: string): string => g.weight(w.get(name)!);
  const int8 = (name: string): boolean => precision === 'int8' && isQuantizedWeight(`${name}.kernel`);
  // An input quantized once for every matmul that reads it (query, key and value share theirs).
  const quantized = new Map<string, QuantizedInput>();
  const quantize = (x: string): QuantizedInput => {
    let q = quantized.get(x);
    if (!q) {
      q = g.node3('DynamicQuantizeLinear', [x]); // uint8 [..., in], scale and zero point scalars
      quantized.set(x, q);
    }
    return q;
  };
  // x [..., in] @ kernel [in, out] + bias, in the subnet's precision.
  const dense = (x: string, name: string): string =>
    int8(name)
      ? int8Dense(
          g,
          quantize(x),
          quantizeKernel(w.get(`${name}.kernel`)!),
          weight(`${name}.bias`),
          int8MatMul,
        )
      : g.node('Add', [g.node('MatMul', [x, weight(`${name}.kernel`)]), weight(`${name}.bias`)]);

  // Embeddings: token rows plus the first `tokens` positions, then LayerNorm.
  const tokens = g.node('Shape', [ONNX_INPUT_IDS], { start: 1, end: 2 }); // int64 [1]
  const positions = g.node('Slice', [weight('embeddings.position'), g.int64([0]), tokens, g.int64([0])]); // [tokens, hidden]
  const table = tokenTable === 'input' ? ONNX_TOKEN_EMBEDDINGS : weight('embeddings.token'); // [vocab, hidden]
  const gathered = g.node('Gather', [table, ONNX_INPUT_IDS], { axis: 0 }); // [batch, tokens, hidden]
  let embedded = g.node('Add', [gathered, positions]); // [batch, tokens, hidden]
  if (config.typeVocabSize !== undefined) {
    const types = g.node('Gather', [weight('embeddings.type'), ONNX_TOKEN_TYPE_IDS], { axis: 0 }); // [batch, tokens, hidden]
    embedded = g.node('Add', [embedded, types]);
  }
  let x = layerNorm(g, embedded, weight, 'embeddings.norm', eps); // [batch, tokens, hidden]

  // Made on first use only, so that a graph holds no node that nothing reads.
  const maskFloat = g.once(() => g.node('Cast', [ONNX_ATTENTION_MASK], { to: FLOAT })); // [batch, tokens]
  // Additive attention bias: 0 on real tokens, -1e9 on padding, as encoder.ts.
  const maskBias = g.once(() => {
    const padding = g.node('Sub', [g.float32([1]), maskFloat()]); // [batch, tokens]
    return g.node('Unsqueeze', [g.node('Mul', [padding, g.float32([MASKED_SCORE])]), g.int64([1, 2])]); // [batch, 1, 1, tokens]
  });

  // Self-attention of `input` [batch, tokens, hidden] with layer `p`'s heads: the heads' outputs side by side
  // [batch, tokens, attention], before the output projection.
  const attention = (input: string, p: string, heads: number): string => {
    const a = heads * d;
    const parts = ['query', 'key', 'value'].map((part) => `${p}.attention.${part}`);
    if (form === 'fused') {
      // Q, K and V kernels side by side [hidden, 3 * attention], their biases likewise; both ops take the raw
      // mask (1 on real tokens) and give masked scores -1e9, as the plain form.
      const bias = g.float32Weight(
        `${p}.attention.qkv.bias`,
        [3 * a],
        concat(parts.map((n) => w.get(`${n}.bias`)!.data)),
      );
      const attributes = { num_heads: heads, mask_filter_value: { float: MASKED_SCORE } };
      if (int8(parts[0]!)) {
        // The kernels quantized per column as in the plain form, packed: the same integer products.
        const [xq, xScale, xZero] = quantize(input);
        const kernel = packQuantized(
          `${p}.attention.qkv.kernel`,
          parts.map((n) => quantizeKernel(w.get(`${n}.kernel`)!)),
        );
        const values = g.int8Weight(`${kernel.name}.int8`, kernel.shape, kernel.values);
        const scales = g.float32Weight(`${kernel.name}.scale`, [3 * a], kernel.scales);
        return g.node(
          'QAttention',
          [xq, values, bias, xScale, scales, ONNX_ATTENTION_MASK, xZero],
          attributes,
          undefined,
          MICROSOFT,
        );
      }
      const kernel = g.float32Weight(
        `${p}.attention.qkv.kernel`,
        [h, 3 * a],
        packColumns(parts.map((n) => w.get(`${n}.kernel`)!)),
      );
      return g.node(
        'Attention',
        [input, kernel, bias, ONNX_ATTENTION_MASK],
        attributes,
        undefined,
        MICROSOFT,
      );
    }
    const [q, key, value] = parts.map((n) => dense(input, n)) as [string, string, string]; // [batch, tokens, attention]
    const headShape = g.int64([0, 0, heads, d]);
    const split = (t: string, perm: number[]) =>
      g.node('Transpose', [g.node('Reshape', [t, headShape])], { perm });
    const qh = split(q, [0, 2, 1, 3]); // [batch, heads, tokens, headSize]
    const kt = split(key, [0, 2, 3, 1]); // [batch, heads, headSize, tokens]
    const vh = split(value, [0, 2, 1, 3]); // [batch, heads, tokens, headSize]
    // onnxruntime folds the scale into the MatMul (FusedMatMul's alpha).
    const raw = g.node('MatMul', [qh, kt]); // [batch, heads, tokens, tokens]
    const scores = g.node('Add', [g.node('Mul', [raw, g.float32([1 / Math.sqrt(d)])]), maskBias()]);
    const probs = g.node('Softmax', [scores], { axis: -1 });
    const context = g.node('Transpose', [g.node('MatMul', [probs, vh])], { perm: [0, 2, 1, 3] }); // [batch, tokens, heads, headSize]
    return g.node('Reshape', [context, g.int64([0, 0, a])]); // [batch, tokens, attention]
  };

  subnet.layers.forEach((layer, k) => {
    const p = `layers.${k}`;
    // pre-ln normalizes before attention and FFN; the BERT form after each residual add.
    const normed = bert ? x : layerNorm(g, x, weight, `${p}.attention.norm`, eps); // [batch, tokens, hidden]
    const merged = attention(normed, p, layer.heads); // [batch, tokens, attention]
    x = g.node('Add', [x, dense(merged, `${p}.attention.output`)]); // [batch, tokens, hidden]
    if (bert) x = layerNorm(g, x, weight, `${p}.attention.norm`, eps);

    const ffnIn = bert ? x : layerNorm(g, x, weight, `${p}.ffn.norm`, eps); // [batch, tokens, hidden]
    const widened = dense(ffnIn, `${p}.ffn.input`); // [batch, tokens, ffn]
    const inner = g.node('Gelu', [widened], { approximate: bert ? 'none' : 'tanh' }); // [batch, tokens, ffn]
    x = g.node('Add', [x, dense(inner, `${p}.ffn.output`)]); // [batch, tokens, hidden]
    if (bert) x = layerNorm(g, x, weight, `${p}.ffn.norm`, eps);
  });

  let pooled: string; // [batch, hidden]
  if (bert) {
    // The hidden state of [CLS], the first token.
    const first = g.node('Gather', [x, g.int64([0])], { axis: 1 }); // [batch, 1, hidden]
    pooled = g.node('Reshape', [first, g.int64([0, h])]);
  } else {
    // Mean over real tokens: mask [batch, 1, tokens] @ normed [batch, tokens, hidden], over the count.
    const normed = layerNorm(g, x, weight, 'final.norm', eps); // [batch, tokens, hidden]
    const summed = g.node('MatMul', [g.node('Unsqueeze', [maskFloat(), g.int64([1])]), normed]); // [batch, 1, hidden]
    const count = g.node('ReduceSum', [maskFloat(), g.int64([1])], { keepdims: 1 }); // [batch, 1]
    pooled = g.node('Div', [g.node('Reshape', [summed, g.int64([0, h])]), count]);
  }
  const pooler = g.node('Tanh', [g.node('Gemm', [pooled, weight('pooler.kernel'), weight('pooler.bias')])]); // [batch, hidden]
  g.node('Gemm', [pooler, weight('classifier.kernel'), weight('classifier.bias')], {}, ONNX_LOGITS); // [batch, labels]

  const inputs = [
    valueInfo(ONNX_INPUT_IDS, INT32, ['batch', 'tokens']),
    valueInfo(ONNX_ATTENTION_MASK, INT32, ['batch', 'tokens']),
    ...(config.typeVocabSize !== undefined
      ? [valueInfo(ONNX_TOKEN_TYPE_IDS, INT32, ['batch', 'tokens'])]
      : []),
    ...(tokenTable === 'input' ? [valueInfo(ONNX_TOKEN_EMBEDDINGS, FLOAT, [config.vocabSize, h])] : []),
  ];
  return g.finish(`subnet-${id}`, config.numLabels, inputs, { ...metadata, subnet_id: id, precision, form });
}

// An input quantized per call (DynamicQuantizeLinear): the uint8 values, their scale and zero point.
type QuantizedInput = [string, string, string];

// x [..., in] @ kernel [in, out] + bias with an int8 kernel: x quantized to uint8 with one scale and zero point
// per call, the integer product rescaled by x's scale times each column's scale.
function int8Dense(
  g: GraphBuilder,
  [xq, xScale, xZero]: QuantizedInput,
  kernel: QuantizedKernel,
  bias: string,
  form: Int8MatMul,
): string {
  const values = g.int8Weight(`${kernel.name}.int8`, kernel.shape, kernel.values);
  const scales = g.float32Weight(`${kernel.name}.scale`, [kernel.shape[1]], kernel.scales);
  if (form === 'contrib') {
    return g.node(
      'MatMulIntegerToFloat',
      [xq, values, xScale, scales, xZero, '', bias],
      {},
      undefined,
      MICROSOFT,
    );
  }
  const product = g.node('MatMulInteger', [xq, values, xZero]); // int32 [..., out]
  const scale = g.node('Mul', [xScale, scales]); // [out]
  const float = g.node('Cast', [product], { to: FLOAT });
  return g.node('Add', [g.node('Mul', [float, scale]), bias]);
}

// Kernels [in, out_i] side by side: [in, sum of out_i].
function packColumns(kernels: readonly WeightTensor[]): Float32Array {
  return packBlocks(
    kernels.map((k) => ({ values: k.data, cols: k.shape[1]! })),
    kernels[0]!.shape[0]!,
    (n) => new Float32Array(n),
  );
}

// Kernels quantized per column, side by side: the same values and scales as each kernel alone.
function packQuantized(name: string, kernels: readonly QuantizedKernel[]): QuantizedKernel {
  const rows = kernels[0]!.shape[0];
  const blocks = kernels.map((k) => ({ values: k.values, cols: k.shape[1] }));
  const values = packBlocks(blocks, rows, (n) => new Int8Array(n));
  const width = blocks.reduce((n, b) => n + b.cols, 0);
  return { name, shape: [rows, width], values, scales: concat(kernels.map((k) => k.scales)) };
}

// Row-major [rows, cols_i] blocks side by side: [rows, sum of cols_i].
function packBlocks<T extends Float32Array | Int8Array>(
  blocks: ReadonlyArray<{ values: T; cols: number }>,
  rows: number,
  allocate: (length: number) => T,
): T {
  const width = blocks.reduce((n, b) => n + b.cols, 0);
  const packed = allocate(rows * width);
  for (let i = 0; i < rows; i++) {
    let at = i * width;
    for (const { values, cols } of blocks) {
      packed.set(values.subarray(i * cols, (i + 1) * cols), at);
      at += cols;
    }
  }
  return packed;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

function layerNorm(
  g: GraphBuilder,
  x: string,
  weight: (name: string) => string,
  name: string,
  epsilon: number,
): string {
  return g.node('LayerNormalization', [x, weight(`${name}.gamma`), weight(`${name}.beta`)], {
    axis: -1,
    epsilon: { float: epsilon },
  });
}

// An attribute: an integer, a float (`{ float }`), a string or a list of integers.
type AttributeValue = number | { float: number } | string | number[];

// Accumulates nodes and initializers with generated value names.
class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;
  private usesMicrosoft = false;

  // Appends a node; returns the name of its (single) output, `output` when given.
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    output?: string,
    domain = '',
  ): string {
    const n = this.counter++;
    const name = output ?? `${opType}_${n}`;
    this.push(n, opType, inputs, [name], attributes, domain);
    return name;
  }

  // Appends a node with three outputs; returns their names.
  node3(opType: string, inputs: string[]): [string, string, string] {
    const n = this.counter++;
    const names: [string, string, string] = [`${opType}_${n}_0`, `${opType}_${n}_1`, `${opType}_${n}_2`];
    this.push(n, opType, inputs, names, {}, '');
    return names;
  }

  private push(
    n: number,
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue>,
    domain: string,
  ): void {
    if (domain === MICROSOFT) this.usesMicrosoft = true;
    this.nodes.push({
      name: `${opType}_${n}`,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      ...(domain !== '' && { domain }),
    });
  }

  // A value made on first use only: `make` runs once, on the first call.
  once(make: () => string): () => string {
    let name: string | undefined;
    return () => {
      name ??= make();
      return name;
    };
  }

  int8Weight(name: string, dims: number[], values: Int8Array): string {
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.INT8,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  float32Weight(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  // A float32 weight as an initializer named after it; raw_data is little-endian, as on x64 and arm64.
  weight(t: WeightTensor): string {
    return this.float32Weight(t.name, t.shape, t.data);
  }

  int64(values: number[]): string {
    return this.constant(
      'int64',
      values,
      onnx.TensorProto.DataType.INT64,
      () => new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer),
    );
  }

  float32(values: number[]): string {
    return this.constant(
      'float32',
      values,
      onnx.TensorProto.DataType.FLOAT,
      () => new Uint8Array(Float32Array.from(values).buffer),
    );
  }

  private constant(kind: string, values: number[], dataType: number, raw: () => Uint8Array): string {
    const key = `${kind}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = `const_${kind}_${this.constants.size}`;
    this.initializers.push({ name, dims: [values.length], dataType, rawData: raw() });
    this.constants.set(key, name);
    return name;
  }

  finish(
    name: string,
    labels: number,
    inputs: onnxProto.onnx.IValueInfoProto[],
    metadata: Record<string, string>,
  ): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [
        { domain: '', version: ONNX_OPSET },
        ...(this.usesMicrosoft ? [{ domain: MICROSOFT, version: 1 }] : []),
      ],
      producerName: 'elastic-supernet-serving',
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs,
        output: [valueInfo(ONNX_LOGITS, FLOAT, ['batch', labels])],
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(
  name: string,
  elemType: number,
  dims: Array<string | number>,
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: types.INTS, ints: value };
  if (typeof value === 'object') return { name, type: types.FLOAT, f: value.float };
  return { name, type: types.INT, i: value };
}
