import { crossFitBow } from './bow-baseline.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { digestOf } from './config.ts';
import { Progress } from './progress.ts';
import { argmax, stageFolder, type TrainingContext } from './run-stage.ts';

// The cross-fitted bag-of-words probabilities of every train example (`bowPrior`), computed once and kept as a
// checkpoint under their own digest (the run's data and the prior's settings).
export async function bowPriors(
  ctx: TrainingContext,
  settings: NonNullable<TrainingContext['config']['bowPrior']>,
): Promise<Float32Array> {
  const digest = digestOf({ run: ctx.digests.run, bowPrior: settings });
  const folder = stageFolder('bow-prior', digest);
  const done = await loadCheckpoint(ctx.checkpointDir, folder, digest);
  if (done) return done.arrays.get('priors')!;
  const train = ctx.data.train;
  const progress = new Progress('bow-prior', settings.folds, 0, ctx.logFile, ctx.quiet);
  const labels = ctx.config.architecture.numLabels;
  const priors = crossFitBow(train, settings.tokens, settings.folds, settings.epochs, labels, (fold) =>
    progress.update(fold, {}),
  );
  let correct = 0;
  for (let i = 0; i < train.length; i++)
    if (argmax(priors, i * labels, labels) === train[i]!.label) correct++;
  progress.note(
    `cross-fitted bag-of-words prior (${settings.folds} folds, ${settings.tokens} tokens): ${((correct / Math.max(1, train.length)) * 100).toFixed(2)}% of train examples right out of fold`,
  );
  await saveCheckpoint(
    ctx.checkpointDir,
    folder,
    { configDigest: digest, stage: 'bow-prior', step: 0, totalSteps: 0, rngState: 0, extra: {} },
    { priors },
  );
  await ctx.mirror?.pushCheckpoint(folder);
  return priors;
}
