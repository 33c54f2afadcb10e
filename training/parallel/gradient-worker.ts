import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '../../src/backend/register-gradients.ts';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { largestSubnet, type SubnetConfig } from '../../src/model/config.ts';
import type { EncoderOutput } from '../../src/model/encoder.ts';
import { Supernet } from '../../src/model/supernet.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import { FlatLayout } from '../flat-params.ts';
import { hardLoss, hiddenLoss, type LossSpec, maskedLmLoss, softLoss } from './losses.ts';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './protocol.ts';

// A gradient worker: one tfjs replica of the student (and of the teacher, when distilling) on one core. It reads
// the shared parameters before each step and writes its gradients into its own shared buffer.

const init = workerData as WorkerInit;
const layout = new FlatLayout(init.config);
const params = new Float32Array(init.params);
const grads = new Float32Array(init.grads);
let student: Supernet;
let teacher: Supernet | undefined;
let loadedVersion = -1;

function post(message: WorkerResponse): void {
  parentPort!.postMessage(message);
}

// Copies the shared parameters into the student's variables when the main thread has moved them.
function syncParams(version: number): void {
  if (version === loadedVersion) return;
  student.assignWeights(layout.toWeights(params));
  loadedVersion = version;
}

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

// Gradients of the summed subnet losses. One subnet at a time, accumulated: peak memory is one subnet's
// activations plus the teacher's outputs, not every subnet's at once (4 subnets at 256 tokens overflow the
// 4 GB wasm heap).
function step(
  batch: TokenBatch,
  labels: Int32Array,
  subnets: SubnetConfig[],
  spec: LossSpec,
  priors: Float32Array | undefined,
) {
  const variables = student.variables();
  const { ids, mask, rowMask, types } = inputs(batch);
  const oneHot = labelTargets(labels, priors, spec.priorWeight ?? 0);
  const needTeacher = teacher !== undefined && (spec.softWeight > 0 || spec.hiddenWeight > 0);
  // The teacher's logits (and hidden states) once per step, kept until the step ends.
  const target: EncoderOutput | undefined = needTeacher
    ? (tf.tidy(
        () =>
          teacher!.apply(ids, mask, largestSubnet(init.config), {
            ...types,
            returnHidden: spec.hiddenWeight > 0,
          }) as unknown as tf.TensorContainer,
      ) as unknown as EncoderOutput)
    : undefined;
  const sums = new Map<string, tf.Tensor>();
  const perSubnet: Array<{ loss: number; correct: number }> = [];
  let total = 0;
  for (const subnet of subnets) {
    let predicted: tf.Tensor | undefined;
    const { value, grads: named } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const out = student.apply(ids, mask, subnet, {
            ...types,
            returnHidden: spec.hiddenWeight > 0 && needTeacher,
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
  writeGradients(variables, sums);
  tf.dispose([...sums.values(), ids, mask, rowMask, oneHot, ...(types.typeIds ? [types.typeIds] : [])]);
  if (target) tf.dispose([target.logits, ...(target.hidden ?? [])]);
  return { loss: total, perSubnet };
}

// The label cross-entropy's targets [batch, labels]: the one-hot labels, with `weight` of each row's prior mixed in
// when the step has priors.
function labelTargets(labels: Int32Array, priors: Float32Array | undefined, weight: number): tf.Tensor2D {
  const classes = init.config.numLabels;
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), classes) as tf.Tensor2D;
    if (priors === undefined || weight === 0) return oneHot;
    const prior = tf.tensor2d(priors, [labels.length, classes]);
    return tf.add(tf.mul(oneHot, 1 - weight), tf.mul(prior, weight)) as tf.Tensor2D;
  });
}

// Gradients into the shared buffer in layout order, zeros where a variable got none (the optimizer expects
// every one, by position).
function writeGradients(variables: tf.Variable[], named: ReadonlyMap<string, tf.Tensor>): void {
  layout.specs.forEach((_, i) => {
    const view = layout.view(grads, i);
    const g = named.get(variables[i]!.name);
    if (g) view.set(g.dataSync() as Float32Array);
    else view.fill(0);
  });
}

// Masked-LM gradients of the full model, averaged over this worker's masked tokens. The token embeddings get
// gradients from both their uses, as inputs and as the tied output projection.
function maskedLmStep(batch: TokenBatch, targets: Int32Array) {
  const variables = student.variables();
  const positions: number[] = [];
  const originals: number[] = [];
  targets.forEach((t, i) => {
    if (t >= 0) {
      positions.push(i);
      originals.push(t);
    }
  });
  if (positions.length === 0) {
    grads.fill(0);
    return { loss: 0, correct: 0, masked: 0 };
  }
  const { ids, mask, rowMask, types } = inputs(batch);
  const at = tf.tensor1d(positions, 'int32');
  const truth = tf.tensor1d(originals, 'int32');
  let predicted: tf.Tensor | undefined;
  const { value, grads: named } = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const out = student.apply(ids, mask, largestSubnet(init.config), { ...types, returnSequence: true });
        const tokenEmbedding = student.get('embeddings.token') as tf.Tensor2D;
        const result = maskedLmLoss(out.sequence!, tokenEmbedding, at, truth);
        predicted = tf.keep(result.predicted);
        return result.loss;
      }),
    variables,
  );
  writeGradients(variables, new Map(Object.entries(named)));
  const loss = value.dataSync()[0]!;
  const guesses = predicted!.dataSync();
  let correct = 0;
  for (let i = 0; i < originals.length; i++) if (guesses[i] === originals[i]) correct++;
  tf.dispose([value, predicted!, ...Object.values(named), ids, mask, rowMask, at, truth]);
  if (types.typeIds) types.typeIds.dispose();
  return { loss, correct, masked: positions.length };
}

function predict(batch: TokenBatch, subnets: SubnetConfig[]): Float32Array[] {
  return subnets.map((subnet) => student.predict(batch, subnet));
}

// Importance of each head and FFN neuron of the largest subnet: |dLoss/dGate| summed over the batch.
function importance(batch: TokenBatch, labels: Int32Array) {
  const full = largestSubnet(init.config);
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
    const out = student.apply(ids, mask, full, { ...types, gates: pairs });
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), init.config.numLabels) as tf.Tensor2D;
    return hardLoss(out.logits, oneHot, 0);
  })(flatGates);
  const values = gradients.map((g) => Float32Array.from(g.dataSync(), Math.abs));
  tf.dispose([...gradients, ...flatGates]);
  return {
    heads: values.filter((_, i) => i % 2 === 0),
    neurons: values.filter((_, i) => i % 2 === 1),
  };
}

async function handle(request: WorkerRequest): Promise<void> {
  try {
    switch (request.type) {
      case 'teacher': {
        teacher?.dispose();
        teacher = request.params
          ? Supernet.fromWeights(init.config, layout.toWeights(new Float32Array(request.params)))
          : undefined;
        post({ type: 'ready', id: request.id, backend: tf.getBackend() });
        return;
      }
      case 'step': {
        syncParams(request.paramsVersion);
        post({
          type: 'step',
          id: request.id,
          ...step(request.batch, request.labels, request.subnets, request.loss, request.priors),
        });
        return;
      }
      case 'masked-lm-step': {
        syncParams(request.paramsVersion);
        post({ type: 'masked-lm-step', id: request.id, ...maskedLmStep(request.batch, request.targets) });
        return;
      }
      case 'predict': {
        syncParams(request.paramsVersion);
        post({ type: 'predict', id: request.id, logits: predict(request.batch, request.subnets) });
        return;
      }
      case 'importance': {
        syncParams(request.paramsVersion);
        post({ type: 'importance', id: request.id, ...importance(request.batch, request.labels) });
        return;
      }
    }
  } catch (error) {
    const e = error as Error;
    post({ type: 'error', id: request.id, message: e.message, stack: e.stack });
  }
}

await selectBackend(init.backend);
await registerGradients();
student = Supernet.fromWeights(init.config, layout.toWeights(params), { trainable: true });
loadedVersion = 0;
// Requests are handled one at a time, in order.
let queue = Promise.resolve();
parentPort!.on('message', (request: WorkerRequest) => {
  queue = queue.then(() => handle(request));
});
post({ type: 'ready', id: -1, backend: tf.getBackend() });
