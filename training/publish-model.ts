import { publishSupernet, type Task } from '../src/artifact/index.ts';
import type { ObjectStore } from '../src/storage/index.ts';
import { gitCommit, hostDescription } from './provenance.ts';
import type { TrainingContext } from './run-stage.ts';
import type { CatalogEntry, SearchedCatalog } from './search-catalog.ts';

// What the run publishes beside the supernet's parameters.
export interface PublishedRun {
  // The final parameters, flattened in layout order.
  supernet: Float32Array;
  catalog: SearchedCatalog;
  // Each stage's final figures and digest.
  stages: Record<string, unknown>;
  trainingSeconds: number;
}

// Publishes the trained supernet as a new version (`<UTC time>-<config digest>`) with its catalog, tokenizer,
// search plot and provenance; returns the version.
export async function publishModel(
  ctx: TrainingContext,
  store: ObjectStore,
  run: PublishedRun,
): Promise<string> {
  const { config } = ctx;
  const space = config.searchSpace;
  const { catalog } = run;
  const version = `${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${ctx.digest.slice(0, 8)}`;
  const weights = ctx.layout.toWeights(run.supernet);
  await store.write(`${config.model}/${version}/front.svg`, new TextEncoder().encode(catalog.svg));
  await publishSupernet(store, {
    model: config.model,
    version,
    architecture: config.architecture,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: ctx.tokenizer.options.lowercase,
      stripAccents: ctx.tokenizer.options.stripAccents,
      maxTokens: Math.max(...space.tokenChoices),
      truncation: config.data.truncation,
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels: config.labels,
    task: taskOf(config),
    weights,
    vocabText: ctx.tokenizer.vocabulary.toVocabText(),
    catalog: catalogEntries(catalog.entries),
    searchSpace: space,
    provenance: {
      data: ctx.dataRecord.description,
      classBalance: ctx.dataRecord.classBalance,
      splitSeed: config.data.splitSalt ?? '(none: every split has its own file)',
      recipe: { config, stages: run.stages, search: catalog.summary },
      commit: gitCommit(),
      host: hostDescription(),
      trainingSeconds: run.trainingSeconds,
    },
    weightDtype: config.publish.weightDtype,
  });
  return version;
}

// The manifest's catalog entries for a searched catalog (every entry names its precision), keys in the order
// manifests have always had them; publishSupernet adds the id last.
export function catalogEntries(entries: readonly CatalogEntry[]) {
  return entries.map((c) => ({
    subnet: c.subnet,
    tokens: c.tokens,
    precision: c.precision ?? 'fp32',
    params: c.params,
    flops: c.flops,
    referenceTokens: c.referenceTokens,
    devAccuracy: c.devAccuracy,
    testAccuracy: c.testAccuracy,
    ...(c.devMacroF1 !== undefined && { devMacroF1: c.devMacroF1 }),
    ...(c.testMacroF1 !== undefined && { testMacroF1: c.testMacroF1 }),
    latencyMs: c.latencyMs,
    latencyHost: hostDescription(),
  }));
}

// What the model classifies: text pairs when the data names a second text, and the fields the files were read by.
function taskOf(config: TrainingContext['config']): Task {
  if (config.data.source !== 'files') return { input: 'single' };
  const { fields } = config.data;
  return { input: fields.textPair === undefined ? 'single' : 'pair', fields };
}
