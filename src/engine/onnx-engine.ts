import type * as Ort from 'onnxruntime-node';
import { EngineError, isSupernetError } from '../errors.ts';
import { CostTable, countWeightBytes, tokenTableBytes } from '../model/accounting.ts';
import {
  formatSubnetPrecisionId,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../model/config.ts';
import { type TokenBatch, validateTokenBatch } from '../model/token-batch.ts';
import { findWeight, type WeightSource } from '../model/weight-checks.ts';
import {
  buildOnnxGraph,
  type GraphForm,
  ONNX_ATTENTION_MASK,
  ONNX_INPUT_IDS,
  ONNX_LOGITS,
  ONNX_TOKEN_EMBEDDINGS,
  ONNX_TOKEN_TYPE_IDS,
} from './build-onnx-graph.ts';
import type { Engine, LoadedSubnet } from './engine.ts';

// How onnxruntime runs each subnet's session.
export interface OnnxEngineOptions {
  // Threads one call may use. onnxruntime-node runs a call on the JS thread, so calls in one process never
  // overlap: more threads speed up large batches; 1 leaves the other core to the event loop and other work.
  intraOpThreads?: number;
  // Let idle pool threads spin for new work (lower latency, burns CPU between calls); only with > 1 thread.
  allowSpinning?: boolean;
  // How each subnet's graph is written (buildOnnxGraph): `fused` (the default) runs faster on onnxruntime's CPU
  // provider, `plain` is the standard-operator reference.
  graphForm?: GraphForm;
  // With intraOpThreads > 1, the calls of fewer FLOPs than this run on one thread: waking a pool of threads costs
  // more than it saves on a small call (on 2 cores, one text ran up to 2.5x slower on 2 threads than on 1, and
  // only calls of several milliseconds gained; docs/results.md). A subnet whose calls can fall on both sides
  // gets a session of each kind.
  pooledFromFlops?: number;
}

// The default pooledFromFlops: 1 GFLOP.
export const POOLED_FROM_FLOPS = 1e9;
// The calls a subnet may get, for choosing its sessions: one text of a few tokens, up to this many texts of the
// longest input.
const SMALLEST_CALL_TOKENS = 8;
const LARGEST_CALL_TEXTS = 64;

type OrtModule = typeof Ort;
let runtime: Promise<OrtModule> | undefined;

// Loads onnxruntime-node once, on first use (its native binding is large; the tfjs path never needs it).
function loadRuntime(): Promise<OrtModule> {
  runtime ??= import('onnxruntime-node').catch((error: unknown) => {
    runtime = undefined;
    throw new EngineError('ENGINE_UNAVAILABLE', `onnxruntime-node could not load: ${messageOf(error)}`, {
      cause: error,
    });
  });
  return runtime;
}

// Runs subnets with onnxruntime-node on CPU: each subnet becomes an in-memory ONNX graph (buildOnnxGraph) and
// one InferenceSession, created at load and reused by every call. The token embedding table is fed to each call
// from the weights given at load instead of living in the session: the subnets of one model, sliced from the
// same supernet weights (sliceSubnetWeights shares the table's memory), all read one copy of it.
export class OnnxEngine implements Engine {
  readonly name = 'onnx';
  readonly intraOpThreads: number;
  readonly allowSpinning: boolean;
  readonly graphForm: GraphForm;
  readonly pooledFromFlops: number;
  private created = 0;

  constructor(options: OnnxEngineOptions = {}) {
    const threads = options.intraOpThreads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new EngineError(
        'ENGINE_UNAVAILABLE',
        `onnx engine: intraOpThreads must be 1 to 256, got ${threads}`,
      );
    }
    this.intraOpThreads = threads;
    this.allowSpinning = options.allowSpinning ?? false;
    this.graphForm = options.graphForm ?? 'fused';
    this.pooledFromFlops = options.pooledFromFlops ?? POOLED_FROM_FLOPS;
  }

  // How many sessions this engine has created (one per load; calls never create one).
  get sessionsCreated(): number {
    return this.created;
  }

  // The onnxruntime-node version, loading the runtime if needed.
  static async runtimeVersion(): Promise<string> {
    const ort = await loadRuntime();
    return ort.env.versions.node ?? ort.env.versions.common;
  }

  // What the subnet's sessions hold: each the subnet's weights in its precision but the token embedding table
  // (fed at each call).
  residentBytes(config: SupernetConfig, subnet: SubnetConfig, precision: Precision): number {
    const sessions = this.sessionThreads(new CostTable(config, subnet, precision), config).length;
    return sessions * sessionBytes(config, subnet, precision);
  }

  // The thread counts of a subnet's sessions: one thread for the calls under pooledFromFlops, intraOpThreads for
  // the others, and only the kinds its calls can need.
  private sessionThreads(cost: CostTable, config: SupernetConfig): number[] {
    if (this.intraOpThreads === 1) return [1];
    const smallest = cost.flops(1, Math.min(SMALLEST_CALL_TOKENS, config.maxTokens));
    const largest = cost.flops(LARGEST_CALL_TEXTS, config.maxTokens);
    const threads: number[] = [];
    if (smallest < this.pooledFromFlops) threads.push(1);
    if (largest >= this.pooledFromFlops) threads.push(this.intraOpThreads);
    return threads;
  }

  async load(
    config: SupernetConfig,
    subnet: SubnetConfig,
    weights: WeightSource,
    precision: Precision = 'fp32',
  ): Promise<LoadedSubnet> {
    const ort = await loadRuntime();
    const model = buildOnnxGraph(
      config,
      subnet,
      weights,
      {},
      {
        precision,
        form: this.graphForm,
        tokenTable: 'input',
      },
    );
    // buildOnnxGraph has checked the weights against the subnet's layout: the table is there.
    const table = findWeight(weights, 'embeddings.token')!;
    const id = formatSubnetPrecisionId(subnet, precision);
    const cost = new CostTable(config, subnet, precision);
    const sessions: SubnetSession[] = [];
    try {
      for (const threads of this.sessionThreads(cost, config)) {
        sessions.push({ threads, session: await this.createSession(ort, model, threads, id) });
      }
    } catch (error) {
      await Promise.allSettled(sessions.map((s) => s.session.release()));
      throw error;
    }
    // Each session holds a copy of every initializer: the subnet's weights but the token table, int8 kernels at
    // one byte a value. The table's tensor wraps the given array (or this thread's one copy of it), and calls
    // pass it without copying.
    const tokenTable = new ort.Tensor('float32', feedable(table.data), table.shape);
    const memoryBytes = sessions.length * sessionBytes(config, subnet, precision);
    const pooled = { cost, fromFlops: this.pooledFromFlops };
    return new OnnxSubnet(ort, sessions, config, subnet, precision, id, memoryBytes, tokenTable, pooled);
  }

  private async createSession(
    ort: OrtModule,
    model: Uint8Array,
    threads: number,
    id: string,
  ): Promise<Ort.InferenceSession> {
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        extra: { session: { intra_op: { allow_spinning: this.allowSpinning ? '1' : '0' } } },
      });
      this.created++;
      return session;
    } catch (error) {
      throw new EngineError(
        'ENGINE_FAILED',
        `onnx: creating a session for subnet ${id}: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}

// The weights one session of a subnet holds: the subnet's in its precision but the token embedding table.
function sessionBytes(config: SupernetConfig, subnet: SubnetConfig, precision: Precision): number {
  return countWeightBytes(config, subnet, precision) - tokenTableBytes(config);
}

// One of a subnet's sessions and the intra-op threads it runs a call on.
interface SubnetSession {
  threads: number;
  session: Ort.InferenceSession;
}

class OnnxSubnet implements LoadedSubnet {
  readonly engine = 'onnx';
  readonly subnet: SubnetConfig;
  readonly precision: Precision;
  readonly id: string;
  readonly memoryBytes: number;
  private readonly ort: OrtModule;
  private readonly config: SupernetConfig;
  // Fewest threads first; undefined once disposed.
  private sessions: SubnetSession[] | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly tokenTable: Ort.Tensor;
  private readonly pooled: { cost: CostTable; fromFlops: number };

  constructor(
    ort: OrtModule,
    sessions: SubnetSession[],
    config: SupernetConfig,
    subnet: SubnetConfig,
    precision: Precision,
    id: string,
    memoryBytes: number,
    tokenTable: Ort.Tensor,
    pooled: { cost: CostTable; fromFlops: number },
  ) {
    this.ort = ort;
    this.sessions = sessions;
    this.pooled = pooled;
    this.config = config;
    this.subnet = subnet;
    this.precision = precision;
    this.id = id;
    this.memoryBytes = memoryBytes;
    this.tokenTable = tokenTable;
  }

  // The intra-op threads a call of this batch and token count runs on.
  threadsFor(batch: number, tokens: number): number {
    return this.sessionFor(batch, tokens)?.threads ?? 0;
  }

  private sessionFor(batch: number, tokens: number): SubnetSession | undefined {
    const sessions = this.sessions;
    if (!sessions) return undefined;
    if (sessions.length === 1) return sessions[0];
    return this.pooled.cost.flops(batch, tokens) < this.pooled.fromFlops ? sessions[0] : sessions[1];
  }

  async run(batch: TokenBatch): Promise<Float32Array> {
    const session = this.sessionFor(batch.batch, batch.tokens)?.session;
    if (!session) throw new EngineError('SUBNET_DISPOSED', `onnx subnet ${this.id} has been disposed`);
    validateTokenBatch(batch, this.config);
    const shape = [batch.batch, batch.tokens];
    // int32 tensors wrap the batch's arrays without a copy.
    const feeds: Record<string, Ort.Tensor> = {
      [ONNX_INPUT_IDS]: new this.ort.Tensor('int32', batch.ids, shape),
      [ONNX_ATTENTION_MASK]: new this.ort.Tensor('int32', batch.mask, shape),
      [ONNX_TOKEN_EMBEDDINGS]: this.tokenTable,
    };
    // A pair model's graph takes token types: all 0 when the batch has none (validated above: only such a
    // model accepts them).
    if (this.config.typeVocabSize !== undefined) {
      const typeIds = batch.typeIds ?? new Int32Array(batch.ids.length);
      feeds[ONNX_TOKEN_TYPE_IDS] = new this.ort.Tensor('int32', typeIds, shape);
    }
    const running = session.run(feeds);
    this.inFlight.add(running);
    let logits: unknown;
    try {
      logits = (await running)[ONNX_LOGITS]?.data;
    } catch (error) {
      throw new EngineError('ENGINE_FAILED', `onnx: running subnet ${this.id}: ${messageOf(error)}`, {
        cause: error,
      });
    } finally {
      this.inFlight.delete(running);
    }
    const expected = batch.batch * this.config.numLabels;
    if (!(logits instanceof Float32Array) || logits.length !== expected) {
      throw new EngineError(
        'ENGINE_FAILED',
        `onnx: subnet ${this.id} did not return ${expected} float32 logits`,
      );
    }
    return logits;
  }

  // Refuses new calls at once, releases the sessions when the calls in flight have finished.
  async dispose(): Promise<void> {
    const sessions = this.sessions;
    if (!sessions) return;
    this.sessions = undefined;
    await Promise.allSettled([...this.inFlight]);
    // Every session is released even if one fails; the first failure is then reported.
    const released = await Promise.allSettled(sessions.map((s) => s.session.release()));
    const failed = released.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

// onnxruntime-node refuses an input over a SharedArrayBuffer (an engine worker's view of the model's weights):
// such a table is copied once into this thread's memory and the copy shared by every subnet fed from it.
const unsharedCopies = new WeakMap<ArrayBufferLike, Map<number, Float32Array>>();

function feedable(data: Float32Array): Float32Array {
  if (!(data.buffer instanceof SharedArrayBuffer)) return data;
  let copies = unsharedCopies.get(data.buffer);
  if (!copies) {
    copies = new Map();
    unsharedCopies.set(data.buffer, copies);
  }
  let copy = copies.get(data.byteOffset);
  if (copy?.length !== data.length) {
    copy = data.slice();
    copies.set(data.byteOffset, copy);
  }
  return copy;
}

function messageOf(error: unknown): string {
  if (isSupernetError(error)) return error.message;
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
