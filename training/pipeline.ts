import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { largestSubnet } from '../src/model/config.ts';
import { Rng } from '../src/model/random.ts';
import { Supernet } from '../src/model/supernet.ts';
import type { ObjectStore } from '../src/storage/index.ts';
import { bowPriors } from './bow-priors.ts';
import { loadCheckpoint } from './checkpoint.ts';
import type { TrainingConfig } from './config.ts';
import { deriveSeed } from './data/batcher.ts';
import { gloveTokenEmbeddings } from './glove.ts';
import type { LossSpec } from './parallel/losses.ts';
import { Progress } from './progress.ts';
import { publishModel } from './publish-model.ts';
import { rewireTeacher } from './rewire-teacher.ts';
import {
  maskedLmGradients,
  runStage,
  stageFolder,
  subnetGradients,
  type TrainingContext,
} from './run-stage.ts';
import { type CatalogEntry, searchCatalog } from './search-catalog.ts';
import { extremeSubnet, sampleSubnet, widthSubnet } from './search-space.ts';

export interface TrainingReport {
  model: string;
  version: string;
  out: string;
  stages: Record<string, unknown>;
  catalog: CatalogEntry[];
  trainingSeconds: number;
}

// Fresh supernet weights for the config's seed, flattened in layout order.
export function initialParams(ctx: TrainingContext): Float32Array {
  const { config, layout } = ctx;
  const supernet = Supernet.create(config.architecture, { seed: deriveSeed(config.seed, 'init') });
  const flat = new Float32Array(layout.total);
  // A checkpoint's weights replace the fresh ones they name (config.init); a classifier it lacks stays fresh.
  const fromCheckpoint = new Map((ctx.initWeights ?? []).map((w) => [w.name, w]));
  layout.fill(
    flat,
    supernet.readWeights().map((w) => fromCheckpoint.get(w.name) ?? w),
  );
  supernet.dispose();
  if (config.embeddings.glove) {
    const rng = new Rng(deriveSeed(config.seed, 'glove'));
    const { table, covered } = gloveTokenEmbeddings(
      ctx.tokenizer.vocabulary,
      config.architecture.hiddenSize,
      rng,
      0.02,
    );
    layout
      .view(
        flat,
        layout.specs.findIndex((s) => s.name === 'embeddings.token'),
      )
      .set(table);
    new Progress('init', 1, 0, ctx.logFile, ctx.quiet).note(
      `token embeddings from GloVe for ${covered} of ${ctx.tokenizer.vocabulary.size} wordpieces`,
    );
  }
  return flat;
}

// The whole recipe: [masked-LM pretraining ->] teacher -> rewire -> width distillation -> width+depth
// distillation -> search -> publish. Every stage resumes from its checkpoint; a finished stage is not run again.
export async function trainSupernet(
  ctx: TrainingContext,
  store: ObjectStore,
  out: string,
): Promise<TrainingReport> {
  const { config } = ctx;
  const arch = config.architecture;
  const largest = largestSubnet(arch);

  // Masked-LM on the train texts first, when configured: the teacher then starts from its result.
  const pretrained = config.pretrain
    ? await runStage(
        ctx,
        'pretrain',
        { ...config.pretrain, evalEverySteps: 0 },
        {
          digest: ctx.digests.pretrain!,
          init: () => initialParams(ctx),
          teacher: null,
          gradients: maskedLmGradients(ctx.pool, ctx.tokenizer.vocabulary, config.pretrain.maskProbability),
          evalSubnets: [],
        },
      )
    : undefined;

  const teacher = await runStage(ctx, 'teacher', config.teacher, {
    digest: ctx.digests.teacher,
    init: () => pretrained ?? initialParams(ctx),
    teacher: null,
    gradients: subnetGradients(ctx.pool, labelLoss(config), () => [largest]),
    evalSubnets: [largest],
  });

  const rewired = await rewireTeacher(ctx, teacher);

  const priors = config.bowPrior ? await bowPriors(ctx, config.bowPrior) : undefined;
  const widths = [...config.width.widthChoices].sort((a, b) => b - a);
  const widthLoss = distillLoss(config.width);
  const widthModel = await runStage(ctx, 'width', config.width, {
    digest: ctx.digests.width,
    init: () => rewired,
    teacher: rewired,
    ...(priors && { priors }),
    gradients: subnetGradients(ctx.pool, widthLoss, (rng) => [
      widthSubnet(arch, widths[0]!),
      widthSubnet(arch, widths[widths.length - 1]!),
      ...Array.from({ length: config.width.randomSubnets }, () => widthSubnet(arch, rng.pick(widths))),
    ]),
    evalSubnets: [widthSubnet(arch, widths[0]!), widthSubnet(arch, widths[widths.length - 1]!)],
  });

  const space = config.searchSpace;
  const smallest = extremeSubnet(space, arch, 'smallest');
  const supernet = await runStage(ctx, 'depth', config.depth, {
    digest: ctx.digests.depth,
    init: () => widthModel,
    teacher: widthModel,
    ...(priors && { priors }),
    gradients: subnetGradients(ctx.pool, distillLoss(config.depth), (rng) => [
      extremeSubnet(space, arch, 'largest'),
      smallest,
      ...Array.from({ length: config.depth.randomSubnets }, () => sampleSubnet(space, arch, rng)),
    ]),
    evalSubnets: [extremeSubnet(space, arch, 'largest'), smallest],
  });

  const catalog = await searchCatalog(ctx, ctx.layout.toWeights(supernet));
  const stages: Record<string, unknown> = {};
  for (const name of ['pretrain', 'teacher', 'width', 'depth'] as const) {
    const digest = ctx.digests[name];
    if (digest === undefined) continue;
    const final = await loadCheckpoint(ctx.checkpointDir, stageFolder(`${name}-final`, digest), digest);
    stages[name] = { ...final?.state.extra, digest };
  }
  const trainingSeconds = ctx.elapsedSeconds();
  const version = await publishModel(ctx, store, { supernet, catalog, stages, trainingSeconds });
  const report: TrainingReport = {
    model: config.model,
    version,
    out,
    stages,
    catalog: catalog.entries,
    trainingSeconds,
  };
  await writeFile(join(ctx.checkpointDir, 'report.json'), JSON.stringify(report, null, 1));
  await ctx.mirror?.pushFile('report.json');
  return report;
}

// Cross-entropy on the labels alone: the teacher, and a standalone model.
export function labelLoss(config: TrainingConfig): LossSpec {
  return {
    hardWeight: 1,
    labelSmoothing: config.teacher.labelSmoothing,
    softWeight: 0,
    temperature: 1,
    hiddenWeight: 0,
  };
}

function distillLoss(stage: TrainingConfig['width'] | TrainingConfig['depth']): LossSpec {
  return {
    hardWeight: stage.hardWeight,
    labelSmoothing: 0,
    softWeight: stage.softWeight,
    temperature: stage.temperature,
    hiddenWeight: stage.hiddenWeight,
    priorWeight: stage.priorWeight ?? 0,
  };
}
