import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OnnxEngine } from '../src/engine/index.ts';
import { countFlops, countParams } from '../src/model/accounting.ts';
import {
  assertSubnetFits,
  formatOperatingPointId,
  type OperatingPoint,
  parseOperatingPointId,
  parseSubnetId,
} from '../src/model/config.ts';
import { digestOf } from './config.ts';
import { PointEvaluator } from './evaluate.ts';
import { initialParams, labelLoss } from './pipeline.ts';
import { runStage, subnetGradients, type TrainingContext } from './run-stage.ts';

export interface StandaloneReport {
  id: string;
  steps: number;
  params: number;
  flops: number;
  devAccuracy: number;
  testAccuracy: number;
}

// Parses `--standalone`: an operating point id (`{subnet}-t{tokens}`) or a bare subnet id, read to the
// longest token choice of the search space.
export function parseStandaloneTarget(id: string, defaultTokens: number): OperatingPoint {
  return id.includes('-t') ? parseOperatingPointId(id) : { subnet: parseSubnetId(id), tokens: defaultTokens };
}

// The baseline: a model of exactly this shape trained alone from scratch on the same data with the same step
// budget as the whole supernet recipe ([pretraining +] teacher + both distillation stages), on hard labels.
export async function trainStandalone(
  ctx: TrainingContext,
  point: OperatingPoint,
): Promise<StandaloneReport> {
  const { config } = ctx;
  assertSubnetFits(config.architecture, point.subnet);
  const id = formatOperatingPointId(point);
  // Every optimizer step of the recipe counts, masked-LM pretraining's too: the baseline trains from scratch on
  // labels alone, for as many steps.
  const examples =
    (config.pretrain?.examples ?? 0) +
    config.teacher.examples +
    config.width.examples +
    config.depth.examples;
  const spec = { ...config.teacher, examples, tokens: { choices: [point.tokens] } };
  const params = await runStage(ctx, `standalone-${id}`, spec, {
    digest: digestOf({ run: ctx.digests.run, standalone: spec }),
    init: () => initialParams(ctx),
    teacher: null,
    gradients: subnetGradients(ctx.pool, labelLoss(config), () => [point.subnet]),
    evalSubnets: [point.subnet],
  });
  const evaluator = new PointEvaluator(
    config.architecture,
    ctx.layout.toWeights(params),
    new OnnxEngine({ intraOpThreads: Math.max(1, config.workers) }),
    ctx.tokenizer,
    config.data.truncation,
  );
  const report: StandaloneReport = {
    id,
    steps: Math.ceil(examples / config.batchSize),
    params: countParams(config.architecture, point.subnet),
    flops: countFlops(config.architecture, point.subnet, 1, point.tokens),
    devAccuracy: await evaluator.accuracy(point, ctx.data.dev),
    testAccuracy: await evaluator.accuracy(point, ctx.data.test),
  };
  await writeFile(join(ctx.checkpointDir, `standalone-${id}.json`), JSON.stringify(report, null, 1));
  await ctx.mirror?.pushFile(`standalone-${id}.json`);
  return report;
}
