import type { SubnetConfig } from '../src/model/config.ts';
import { Rng } from '../src/model/random.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import type { Vocabulary, WordPieceTokenizer } from '../src/tokenizer/index.ts';
import { type AdamState, createAdamState, learningRateAt } from './adamw.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import type { CheckpointMirror } from './checkpoint-mirror.ts';
import type { StageDigests, TrainingConfig } from './config.ts';
import { Batcher, deriveSeed, type EncodedExample, pack } from './data/batcher.ts';
import { TokenMasker } from './data/mask-tokens.ts';
import type { FlatLayout } from './flat-params.ts';
import type { GradientPool } from './parallel/gradient-pool.ts';
import type { LossSpec } from './parallel/losses.ts';
import { Progress } from './progress.ts';

// What every stage shares: the run's config, data, workers and where it keeps its state.
export interface TrainingContext {
  config: TrainingConfig;
  // The checkpoint's weights a run starts from (config.init), under the supernet's names.
  initWeights?: readonly WeightTensor[];
  // Digest of the whole config (it names the published version) and of what each stage depends on.
  digest: string;
  digests: StageDigests;
  checkpointDir: string;
  logFile: string;
  pool: GradientPool;
  layout: FlatLayout;
  tokenizer: WordPieceTokenizer;
  data: { train: EncodedExample[]; dev: EncodedExample[]; test: EncodedExample[] };
  dataStats: { raw: number; duplicates: number; train: number; dev: number; test: number };
  // What the manifest's provenance records of the data: its origin and each split's examples per label.
  dataRecord: { description: string; classBalance: Record<string, Record<string, number>> };
  // Seconds of training so far, across interruptions.
  elapsedSeconds: () => number;
  quiet: boolean;
  // Called once after every optimizer step: true when the run must stop (SIGINT/SIGTERM, --max-steps); the
  // stage then saves a checkpoint and throws Interrupted.
  afterStep: () => boolean;
  checkpointEverySeconds: number;
  // Where checkpoints are copied after every save (--mirror), if anywhere.
  mirror?: CheckpointMirror | undefined;
}

// Thrown after a checkpoint was saved because a stop was requested; the same command resumes.
export class Interrupted extends Error {}

export interface StageSpec {
  examples: number;
  optimizer: { learningRate: number; warmupFraction: number; weightDecay: number; clipNorm: number };
  tokens: { choices: number[]; weights?: number[] | undefined };
  evalEverySteps: number;
}

// What one step reports: its loss (a non-finite one stops the stage), and figures that the progress bar and log
// show smoothed over steps.
export interface StepReport {
  loss: number;
  figures: Record<string, number>;
}

export interface StagePlan {
  // What the stage's result depends on (`stageDigests`): its checkpoints are kept under it.
  digest: string;
  // Parameters the stage starts from, computed only when the stage starts fresh.
  init: () => Float32Array;
  // The frozen teacher's parameters, or null.
  teacher: Float32Array | null;
  // One step's gradients into the pool's `grads`, from the step's batch and its random stream (and its rows'
  // priors when the plan has them).
  gradients: (
    batch: TokenBatch,
    labels: Int32Array,
    rng: Rng,
    priors: Float32Array | undefined,
  ) => Promise<StepReport>;
  // A probability per label for every train example ([examples * labels]), handed to `gradients` per batch.
  priors?: Float32Array;
  // Subnets whose dev accuracy is reported at evaluations and at the end; none for a stage without a classifier.
  evalSubnets: SubnetConfig[];
}

// The step of the classification stages: the summed loss of the subnets drawn for the step (sandwich rule; the
// same subnets for every row), with the first subnet's accuracy.
export function subnetGradients(
  pool: GradientPool,
  loss: LossSpec,
  sampleSubnets: (rng: Rng) => SubnetConfig[],
): StagePlan['gradients'] {
  return async (batch, labels, rng, priors) => {
    const stats = await pool.step(batch, labels, sampleSubnets(rng), loss, priors);
    return {
      loss: stats.loss,
      figures: { loss: stats.loss, acc: stats.perSubnet[0]!.correct / batch.batch },
    };
  };
}

// The step of the masked-LM stage: the batch masked BERT's way from the step's random stream (labels unused),
// gradients of the full model; figures: the masked-LM loss and the share of masked tokens predicted right.
export function maskedLmGradients(
  pool: GradientPool,
  vocabulary: Vocabulary,
  maskProbability: number,
): StagePlan['gradients'] {
  const masker = new TokenMasker(vocabulary, maskProbability);
  return async (batch, _labels, rng) => {
    const { batch: masked, targets } = masker.mask(batch, rng);
    const stats = await pool.maskedLmStep(masked, targets);
    return {
      loss: stats.loss,
      figures: { mlmLoss: stats.loss, maskedAcc: stats.correct / Math.max(1, stats.masked) },
    };
  };
}

// Runs one resumable training stage and returns its final parameters. Checkpoints go to `<name>.<digest>`, the
// final parameters to `<name>-final.<digest>`, so a finished stage is never run twice.
export async function runStage(
  ctx: TrainingContext,
  name: string,
  spec: StageSpec,
  plan: StagePlan,
): Promise<Float32Array> {
  const folder = stageFolder(name, plan.digest);
  const finalFolder = stageFolder(`${name}-final`, plan.digest);
  const done = await loadCheckpoint(ctx.checkpointDir, finalFolder, plan.digest);
  if (done) return done.arrays.get('params')!;
  const { config, pool } = ctx;
  const totalSteps = Math.max(1, Math.ceil(spec.examples / config.batchSize));
  const start = await startStage(ctx, folder, plan);
  const adam = start.adam;
  await pool.setTeacher(plan.teacher);
  const progress = new Progress(name, totalSteps, start.step, ctx.logFile, ctx.quiet);
  if (start.resumed) progress.note(`resuming at step ${start.step}/${totalSteps}`);
  const batcher = new Batcher(
    ctx.data.train,
    config.batchSize,
    deriveSeed(config.seed, name),
    ctx.tokenizer,
    config.data.truncation,
    plan.priors,
  );
  const save = async (step: number) => {
    await saveCheckpoint(
      ctx.checkpointDir,
      folder,
      {
        configDigest: plan.digest,
        stage: name,
        step,
        totalSteps,
        rngState: deriveSeed(config.seed, name, step),
        extra: {},
      },
      { params: pool.snapshotParams(), m: adam.m, v: adam.v },
    );
    await ctx.mirror?.pushCheckpoint(folder);
  };
  let lastSave = performance.now();
  const smoothed: Record<string, number> = {};
  // `step` counts the optimizer updates done.
  let step = start.step;
  while (step < totalSteps) {
    const update = await trainStep(ctx, name, spec, plan, { batcher, adam, step, totalSteps });
    step++;
    smoothInto(smoothed, update.figures);
    progress.update(step, {
      ...smoothed,
      lr: update.learningRate,
      gradNorm: update.gradNorm,
      tokens: update.tokens,
    });
    if (spec.evalEverySteps > 0 && step % spec.evalEverySteps === 0 && step < totalSteps) {
      await reportDev(ctx, progress, plan.evalSubnets, step);
    }
    if (ctx.afterStep()) {
      await save(step);
      progress.note(`stopped at step ${step}/${totalSteps}; checkpoint saved`);
      throw new Interrupted(`${name} stopped at step ${step}`);
    }
    if (performance.now() - lastSave > ctx.checkpointEverySeconds * 1000) {
      await save(step);
      lastSave = performance.now();
    }
  }
  // The final figures: dev accuracy, or the last smoothed figures of a stage without a classifier.
  const extra =
    plan.evalSubnets.length > 0
      ? { devAccuracy: await reportDev(ctx, progress, plan.evalSubnets, step) }
      : { ...smoothed };
  const params = pool.snapshotParams();
  await saveCheckpoint(
    ctx.checkpointDir,
    finalFolder,
    { configDigest: plan.digest, stage: name, step, totalSteps, rngState: 0, extra },
    { params },
  );
  await ctx.mirror?.pushCheckpoint(finalFolder);
  return params;
}

// Where a stage starts: from its checkpoint when one was saved (parameters, AdamW moments, step), else from the
// plan's initial parameters at step 0. The pool's parameters are set to the start.
async function startStage(
  ctx: TrainingContext,
  folder: string,
  plan: StagePlan,
): Promise<{ step: number; adam: AdamState; resumed: boolean }> {
  const adam = createAdamState(ctx.layout.total);
  const resumed = await loadCheckpoint(ctx.checkpointDir, folder, plan.digest);
  if (!resumed) {
    ctx.pool.setParams(plan.init());
    return { step: 0, adam, resumed: false };
  }
  ctx.pool.setParams(resumed.arrays.get('params')!);
  adam.m.set(resumed.arrays.get('m')!);
  adam.v.set(resumed.arrays.get('v')!);
  adam.step = resumed.state.step;
  return { step: resumed.state.step, adam, resumed: true };
}

// One optimizer update, the `step`-th of the stage: the step's random stream, its token length and batch, the
// plan's gradients on the workers, then AdamW at the scheduled learning rate. A non-finite loss stops the stage.
async function trainStep(
  ctx: TrainingContext,
  name: string,
  spec: StageSpec,
  plan: StagePlan,
  at: { batcher: Batcher; adam: AdamState; step: number; totalSteps: number },
): Promise<{ figures: Record<string, number>; learningRate: number; gradNorm: number; tokens: number }> {
  const { step, totalSteps } = at;
  // Everything random in a step derives from (seed, stage, step): a resumed run repeats it exactly.
  const rng = new Rng(deriveSeed(ctx.config.seed, name, step));
  const tokens = pickWeighted(rng, spec.tokens.choices, spec.tokens.weights);
  const { batch, labels, priors } = at.batcher.batchAt(step, tokens);
  const report = await plan.gradients(batch, labels, rng, priors);
  if (!Number.isFinite(report.loss))
    throw new Error(`${name}: loss is ${report.loss} at step ${step + 1}; lower the learning rate`);
  const { learningRate: peak, warmupFraction, weightDecay, clipNorm } = spec.optimizer;
  const learningRate = learningRateAt(step, totalSteps, peak, warmupFraction);
  const gradNorm = ctx.pool.applyAdamW(at.adam, { learningRate, weightDecay, clipNorm });
  return { figures: report.figures, learningRate, gradNorm, tokens };
}

// Folds a step's figures into their running averages (an exponential moving average, 0.95 of the past).
function smoothInto(smoothed: Record<string, number>, figures: Record<string, number>): void {
  for (const [key, value] of Object.entries(figures)) {
    const before = smoothed[key];
    smoothed[key] = before === undefined ? value : 0.95 * before + 0.05 * value;
  }
}

// The checkpoint folder of a stage under a digest.
export function stageFolder(name: string, digest: string): string {
  return `${name}.${digest}`;
}

// Dev accuracy of some subnets on a slice of dev (at most 1,024 examples, the longest token choice).
async function reportDev(
  ctx: TrainingContext,
  progress: Progress,
  subnets: SubnetConfig[],
  step: number,
): Promise<number[]> {
  const examples = ctx.data.dev.slice(0, 1024);
  const tokens = Math.max(...ctx.config.searchSpace.tokenChoices);
  const accuracy = await accuracyOf(ctx, subnets, examples, tokens);
  progress.note(
    `step ${step}: dev accuracy ${accuracy.map((a) => a.toFixed(4)).join(' / ')} (largest first)`,
    {
      step,
      devAccuracy: accuracy,
    },
  );
  return accuracy;
}

// Accuracy of each subnet over examples read to `tokens`, on the worker pool's current parameters.
export async function accuracyOf(
  ctx: TrainingContext,
  subnets: SubnetConfig[],
  examples: readonly EncodedExample[],
  tokens: number,
  batchSize = 64,
): Promise<number[]> {
  const correct = subnets.map(() => 0);
  const labels = ctx.config.architecture.numLabels;
  for (let i = 0; i < examples.length; i += batchSize) {
    const rows = examples.slice(i, i + batchSize);
    const { batch, labels: truth } = pack(ctx.tokenizer, rows, tokens, ctx.config.data.truncation);
    const logits = await ctx.pool.predict(batch, subnets);
    logits.forEach((l, k) => {
      for (let r = 0; r < rows.length; r++) if (argmax(l, r * labels, labels) === truth[r]) correct[k]!++;
    });
  }
  return correct.map((c) => c / Math.max(1, examples.length));
}

export function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let j = 1; j < length; j++) if (values[offset + j]! > values[offset + best]!) best = j;
  return best;
}

export function pickWeighted(rng: Rng, choices: number[], weights?: number[]): number {
  if (!weights) return rng.pick(choices);
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let i = 0; i < choices.length; i++) {
    u -= weights[i]!;
    if (u < 0) return choices[i]!;
  }
  return choices[choices.length - 1]!;
}
