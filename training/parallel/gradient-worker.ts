import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '../../src/backend/register-gradients.ts';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { largestSubnet, type SubnetConfig, type SupernetConfig } from '../../src/model/config.ts';
import type { EncoderOutput } from '../../src/model/encoder.ts';
import { Supernet } from '../../src/model/supernet.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import { FlatLayout } from '../flat-params.ts';
import { hardLoss, hiddenLoss, type LossSpec, maskedLmLoss, softLoss } from './losses.ts';
import type { SubnetStepStats, WorkerInit, WorkerRequest, WorkerResponse } from './protocol.ts';

function inputs(batch: TokenBatch): {
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
  rowMask: tf.Tensor2D;
  // Token types of a pair batch, as the encoder takes them (absent for single texts).
  types: { typeIds?: tf.Tensor2D };
} {
  const shape: [number, number] = [batch.batch, batch.tokens];
  const ids = tf.tensor2d(batch.ids, shape, 'int32');
  const mask = tf.tensor2d(Float32Array.from(batch.mask), shape);
  const types = batch.typeIds ? { typeIds: tf.tensor2d(batch.typeIds, shape, 'int32') } : {};
  return { ids, mask, rowMask: tf.reshape(mask, [batch.batch * batch.tokens, 1]) as tf.Tensor2D, types };
}

// A gradient worker: one tfjs replica of the student (and of the teacher, when distilling) on one core. It reads
// the shared parameters before a request when the main thread has moved them, and writes its gradients into its
// own shared buffer.
export class GradientWorker {
  private readonly config: SupernetConfig;
  private readonly layout: FlatLayout;
  // The student's parameters, shared with the main thread and written only by it.
  private readonly params: Float32Array;
  // This worker's gradient output, shared.
  private readonly grads: Float32Array;
  private readonly student: Supernet;
  private teacher: Supernet | undefined;
  // The parameter version the student's variables hold.
  private loadedVersion = 0;

  private constructor(init: WorkerInit) {
    this.config = init.config;
    this.layout = new FlatLayout(init.config);
    this.params = new Float32Array(init.params);
    this.grads = new Float32Array(init.grads);
    this.student = Supernet.fromWeights(init.config, this.layout.toWeights(this.params), { trainable: true });
  }

  // Selects the backend, registers the custom gradients and loads the student from the shared parameters.
  static async start(init: WorkerInit): Promise<GradientWorker> {
    await selectBackend(init.backend);
    await registerGradients();
    return new GradientWorker(init);
  }

  // Answers one request; a failure is answered as an error, not thrown.
  handle(request: WorkerRequest): WorkerResponse {
    try {
      if (request.type === 'teacher') {
        this.setTeacher(request.params);
        return { type: 'ready', id: request.id, backend: tf.getBackend() };
      }
      this.syncParams(request.paramsVersion);
      switch (request.type) {
        case 'step':
          return {
            type: 'step',
            id: request.id,
            ...this.step(request.batch, request.labels, request.subnets, request.loss, request.priors),
          };
        case 'masked-lm-step':
          return {
            type: 'masked-lm-step',
            id: request.id,
            ...this.maskedLmStep(request.batch, request.targets),
          };
        case 'predict':
          return { type: 'predict', id: request.id, logits: this.predict(request.batch, request.subnets) };
        case 'importance':
          return { type: 'importance', id: request.id, ...this.importance(request.batch, request.labels) };
      }
    } catch (error) {
      const e = error as Error;
      return { type: 'error', id: request.id, message: e.message, stack: e.stack };
    }
  }

  private setTeacher(params: SharedArrayBuffer | null): void {
    this.teacher?.dispose();
    this.teacher = params
      ? Supernet.fromWeights(this.config, this.layout.toWeights(new Float32Array(params)))
      : undefined;
  }

  // Copies the shared parameters into the student's variables when the main thread has moved them.
  private syncParams(version: number): void {
    if (version === this.loadedVersion) return;
    this.student.assignWeights(this.layout.toWeights(this.params));
    this.loadedVersion = version;
  }

  // Gradients of the summed subnet losses. One subnet at a time, accumulated: peak memory is one subnet's
  // activations plus the teacher's outputs, not every subnet's at once (4 subnets at 256 tokens overflow the
  // 4 GB wasm heap).
  private step(
    batch: TokenBatch,
    labels: Int32Array,
    subnets: SubnetConfig[],
    spec: LossSpec,
    priors: Float32Array | undefined,
  ): { loss: number; perSubnet: SubnetStepStats[] } {
    const variables = this.student.variables();
    const { ids, mask, rowMask, types } = inputs(batch);
    const oneHot = this.labelTargets(labels, priors, spec.priorWeight ?? 0);
    const teacher = spec.softWeight > 0 || spec.hiddenWeight > 0 ? this.teacher : undefined;
    // The teacher's logits (and hidden states) once per step, kept until the step ends.
    const target: EncoderOutput | undefined = teacher
      ? (tf.tidy(
          () =>
            teacher.apply(ids, mask, largestSubnet(this.config), {
              ...types,
              returnHidden: spec.hiddenWeight > 0,
            }) as unknown as tf.TensorContainer,
        ) as unknown as EncoderOutput)
      : undefined;
    const sums = new Map<string, tf.Tensor>();
    const perSubnet: SubnetStepStats[] = [];
    let total = 0;
    for (const subnet of subnets) {
      let predicted: tf.Tensor | undefined;
      const { value, grads: named } = tf.variableGrads(
        () =>
          tf.tidy(() => {
            const out = this.student.apply(ids, mask, subnet, {
              ...types,
              returnHidden: spec.hiddenWeight > 0 && teacher !== undefined,
            });
            predicted = tf.keep(tf.argMax(out.logits, 1));
            let loss = tf.scalar(0);
            if (spec.hardWeight > 0) {
              loss = tf.add(loss, tf.mul(hardLoss(out.logits, oneHot, spec.labelSmoothing), spec.hardWeight));
            }
            if (target && spec.softWeight > 0) {
              loss = tf.add(
                loss,
                tf.mul(softLoss(out.logits, target.logits, spec.temperature), spec.softWeight),
              );
            }
            if (target?.hidden && out.hidden && spec.hiddenWeight > 0) {
              loss = tf.add(
                loss,
                tf.mul(hiddenLoss(out.hidden, target.hidden, subnet, rowMask), spec.hiddenWeight),
              );
            }
            return loss as tf.Scalar;
          }),
        variables,
      );
      for (const [name, g] of Object.entries(named)) {
        const previous = sums.get(name);
        if (previous) {
          sums.set(name, tf.add(previous, g));
          tf.dispose([previous, g]);
        } else sums.set(name, g);
      }
      const loss = value.dataSync()[0]!;
      const labelsPredicted = predicted!.dataSync();
      let correct = 0;
      for (let r = 0; r < labels.length; r++) if (labelsPredicted[r] === labels[r]) correct++;
      perSubnet.push({ loss, correct });
      total += loss;
      tf.dispose([value, predicted!]);
    }
    this.writeGradients(variables, sums);
    tf.dispose([...sums.values(), ids, mask, rowMask, oneHot, ...(types.typeIds ? [types.typeIds] : [])]);
    if (target) tf.dispose([target.logits, ...(target.hidden ?? [])]);
    return { loss: total, perSubnet };
  }

  // The label cross-entropy's targets [batch, labels]: the one-hot labels, with `weight` of each row's prior mixed
  // in when the step has priors.
  private labelTargets(labels: Int32Array, priors: Float32Array | undefined, weight: number): tf.Tensor2D {
    const classes = this.config.numLabels;
    return tf.tidy(() => {
      const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), classes) as tf.Tensor2D;
      if (priors === undefined || weight === 0) return oneHot;
      const prior = tf.tensor2d(priors, [labels.length, classes]);
      return tf.add(tf.mul(oneHot, 1 - weight), tf.mul(prior, weight)) as tf.Tensor2D;
    });
  }

  // Gradients into the shared buffer in layout order, zeros where a variable got none (the optimizer expects
  // every one, by position).
  private writeGradients(variables: tf.Variable[], named: ReadonlyMap<string, tf.Tensor>): void {
    this.layout.specs.forEach((_, i) => {
      const view = this.layout.view(this.grads, i);
      const g = named.get(variables[i]!.name);
      if (g) view.set(g.dataSync() as Float32Array);
      else view.fill(0);
    });
  }

  // Masked-LM gradients of the full model, averaged over this worker's masked tokens. The token embeddings get
  // gradients from both their uses, as inputs and as the tied output projection.
  private maskedLmStep(
    batch: TokenBatch,
    targets: Int32Array,
  ): { loss: number; correct: number; masked: number } {
    const variables = this.student.variables();
    const positions: number[] = [];
    const originals: number[] = [];
    targets.forEach((t, i) => {
      if (t >= 0) {
        positions.push(i);
        originals.push(t);
      }
    });
    if (positions.length === 0) {
      this.grads.fill(0);
      return { loss: 0, correct: 0, masked: 0 };
    }
    const { ids, mask, rowMask, types } = inputs(batch);
    const at = tf.tensor1d(positions, 'int32');
    const truth = tf.tensor1d(originals, 'int32');
    let predicted: tf.Tensor | undefined;
    const { value, grads: named } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const out = this.student.apply(ids, mask, largestSubnet(this.config), {
            ...types,
            returnSequence: true,
          });
          const tokenEmbedding = this.student.get('embeddings.token') as tf.Tensor2D;
          const result = maskedLmLoss(out.sequence!, tokenEmbedding, at, truth);
          predicted = tf.keep(result.predicted);
          return result.loss;
        }),
      variables,
    );
    this.writeGradients(variables, new Map(Object.entries(named)));
    const loss = value.dataSync()[0]!;
    const guesses = predicted!.dataSync();
    let correct = 0;
    for (let i = 0; i < originals.length; i++) if (guesses[i] === originals[i]) correct++;
    tf.dispose([value, predicted!, ...Object.values(named), ids, mask, rowMask, at, truth]);
    if (types.typeIds) types.typeIds.dispose();
    return { loss, correct, masked: positions.length };
  }

  private predict(batch: TokenBatch, subnets: SubnetConfig[]): Float32Array[] {
    return subnets.map((subnet) => this.student.predict(batch, subnet));
  }

  // Importance of each head and FFN neuron of the largest subnet: |dLoss/dGate| summed over the batch.
  private importance(
    batch: TokenBatch,
    labels: Int32Array,
  ): { heads: Float32Array[]; neurons: Float32Array[] } {
    const full = largestSubnet(this.config);
    const gates = full.layers.map((l) => ({
      heads: tf.ones([l.heads]) as tf.Tensor1D,
      neurons: tf.ones([l.ffn]) as tf.Tensor1D,
    }));
    const flatGates = gates.flatMap((g) => [g.heads, g.neurons]);
    const gradients = tf.grads((...g: tf.Tensor[]) => {
      const { ids, mask, types } = inputs(batch);
      const pairs = full.layers.map((_, k) => ({
        heads: g[2 * k] as tf.Tensor1D,
        neurons: g[2 * k + 1] as tf.Tensor1D,
      }));
      const out = this.student.apply(ids, mask, full, { ...types, gates: pairs });
      const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), this.config.numLabels) as tf.Tensor2D;
      return hardLoss(out.logits, oneHot, 0);
    })(flatGates);
    const values = gradients.map((g) => Float32Array.from(g.dataSync(), Math.abs));
    tf.dispose([...gradients, ...flatGates]);
    return {
      heads: values.filter((_, i) => i % 2 === 0),
      neurons: values.filter((_, i) => i % 2 === 1),
    };
  }
}

// In a worker thread: start, say so, then answer requests one at a time, in order.
if (parentPort) {
  const port = parentPort;
  const worker = await GradientWorker.start(workerData as WorkerInit);
  port.on('message', (request: WorkerRequest) => port.postMessage(worker.handle(request)));
  port.postMessage({ type: 'ready', id: -1, backend: tf.getBackend() } satisfies WorkerResponse);
}
