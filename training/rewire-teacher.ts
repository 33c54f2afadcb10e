import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { pack } from './data/batcher.ts';
import { addInto } from './parallel/gradient-pool.ts';
import { Progress } from './progress.ts';
import { rewireWeights } from './rewire.ts';
import { stageFolder, type TrainingContext } from './run-stage.ts';

// DynaBERT rewiring: importance of every head and neuron on dev data, then important units first.
export async function rewireTeacher(ctx: TrainingContext, teacher: Float32Array): Promise<Float32Array> {
  const digest = ctx.digests.rewired;
  const done = await loadCheckpoint(ctx.checkpointDir, stageFolder('rewired', digest), digest);
  if (done) return done.arrays.get('params')!;
  const { config, pool, layout } = ctx;
  pool.setParams(teacher);
  const examples = ctx.data.dev.slice(0, config.rewire.examples);
  const progress = new Progress('rewire', Math.ceil(examples.length / 32), 0, ctx.logFile, ctx.quiet);
  let importance: { heads: Float32Array[]; neurons: Float32Array[] } | undefined;
  for (let i = 0; i < examples.length; i += 32) {
    const { batch, labels } = pack(
      ctx.tokenizer,
      examples.slice(i, i + 32),
      config.rewire.tokens,
      config.data.truncation,
    );
    const part = await pool.importance(batch, labels);
    if (!importance) importance = part;
    else {
      addInto(importance.heads, part.heads);
      addInto(importance.neurons, part.neurons);
    }
    progress.update(i / 32 + 1, {});
  }
  const rewiredWeights = rewireWeights(config.architecture, layout.toWeights(teacher), importance!);
  const flat = new Float32Array(layout.total);
  layout.fill(flat, rewiredWeights);
  progress.note(
    `head importance per layer: ${importance!.heads.map((h) => Array.from(h, (v) => v.toFixed(3)).join(',')).join(' | ')}`,
  );
  await saveCheckpoint(
    ctx.checkpointDir,
    stageFolder('rewired', digest),
    { configDigest: digest, stage: 'rewired', step: 0, totalSteps: 0, rngState: 0, extra: {} },
    { params: flat },
  );
  await ctx.mirror?.pushCheckpoint(stageFolder('rewired', digest));
  return flat;
}
