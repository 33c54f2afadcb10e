import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { AppDeps } from '../../serving/app.ts';
import { buildApp, type ServingApp } from '../../serving/app.ts';
import { loadConfig, type ServingConfig } from '../../serving/config.ts';
import type { InferencePool } from '../../serving/inference-pool.ts';
import type { ModelHost } from '../../serving/model-host.ts';
import { type PublishSupernetOptions, publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { subnetCost } from '../../src/model/accounting.ts';
import type { SubnetConfig, SupernetConfig } from '../../src/model/config.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import type { ObjectStore } from '../../src/storage/object-store.ts';
import { loadBertUncasedVocabulary } from '../../src/tokenizer/vocabulary.ts';
import { randomSupernetWeights } from '../helpers/random-weights.ts';

// A small supernet on the real BERT vocabulary (so the tokenizer works on real text): hidden 64, 3 layers.
export const FIXTURE_ARCH: SupernetConfig = {
  vocabSize: 30522,
  hiddenSize: 64,
  maxTokens: 128,
  maxLayers: 3,
  maxHeads: 4,
  headSize: 16,
  maxFfn: 256,
  numLabels: 2,
  layerNormEps: 1e-5,
};

// The fixture's model name (its folder under the artifact root).
export const FIXTURE_MODEL = 'fixture-sentiment';

const layer = (index: number, heads: number, ffn: number) => ({ layer: index, heads, ffn });

// The catalog: five operating points with made-up dev accuracies (the most accurate is the largest). The
// smallest and the largest differ by two orders of magnitude in FLOPs on long texts, so that which one a
// tight or a loose budget gets does not depend on timing noise.
export const FIXTURE_POINTS: ReadonlyArray<{ subnet: SubnetConfig; tokens: number; devAccuracy: number }> = [
  { subnet: { layers: [layer(0, 1, 32)] }, tokens: 16, devAccuracy: 0.7 },
  { subnet: { layers: [layer(0, 2, 128), layer(1, 2, 128)] }, tokens: 64, devAccuracy: 0.78 },
  { subnet: { layers: [layer(0, 2, 128), layer(2, 2, 128)] }, tokens: 128, devAccuracy: 0.8 },
  { subnet: { layers: [layer(0, 4, 256), layer(1, 4, 256)] }, tokens: 64, devAccuracy: 0.82 },
  {
    subnet: { layers: [layer(0, 4, 256), layer(1, 4, 256), layer(2, 4, 256)] },
    tokens: 128,
    devAccuracy: 0.88,
  },
];
// The cheapest and the most accurate (and most expensive) operating points.
export const SMALLEST_POINT = '0h1f32-t16';
export const LARGEST_POINT = '0h4f256.1h4f256.2h4f256-t128';
// A text of about 200 tokens: every point reads it to its own token length.
export const LONG_TEXT = `${'What a wonderful, moving film; the acting is great and the plot never drags. '.repeat(12)}The end.`;

let vocabText: string | undefined;

// What publishSupernet needs for the fixture, with random weights from `seed`.
export function fixturePublishOptions(version: string, seed = 1): PublishSupernetOptions {
  vocabText ??= loadBertUncasedVocabulary().toVocabText();
  return {
    model: FIXTURE_MODEL,
    version,
    architecture: FIXTURE_ARCH,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: true,
      stripAccents: true,
      maxTokens: 128,
      truncation: 'head-tail',
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels: ['negative', 'positive'],
    weights: randomSupernetWeights(FIXTURE_ARCH, seed),
    vocabText,
    catalog: FIXTURE_POINTS.map((p) => {
      const cost = subnetCost(FIXTURE_ARCH, p.subnet, 1, 128);
      return {
        subnet: p.subnet,
        tokens: p.tokens,
        params: cost.params,
        flops: cost.flops,
        referenceTokens: 128,
        devAccuracy: p.devAccuracy,
        latencyMs: 1,
        latencyHost: 'fixture',
      };
    }),
    provenance: { data: 'random', splitSeed: 'none', recipe: { kind: 'fixture' }, commit: 'test' },
    createdAt: new Date('2026-11-22T08:00:00.000Z'),
  };
}

// Publishes a fixture version to a store rooted at the artifact root (it writes <model>/<version>/ and LATEST).
export async function publishFixture(store: ObjectStore, version: string, seed = 1): Promise<void> {
  await publishSupernet(store, fixturePublishOptions(version, seed));
}

// A temporary folder with fixture version `v1` published; returns the model root (what SUPERNET_URI names).
export async function fixtureFolder(t: { after(fn: () => Promise<void>): unknown }): Promise<{
  root: string;
  modelRoot: string;
  store: FileStore;
}> {
  const root = await mkdtemp(join(tmpdir(), 'serving-fixture-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new FileStore(root);
  await publishFixture(store, 'v1');
  return { root, modelRoot: join(root, FIXTURE_MODEL), store };
}

// A temporary folder with fixture version `v1` published with an int8 twin of every point (`{id}-int8`, half a
// point less accurate than its fp32 twin); returns the model root.
export async function int8FixtureFolder(t: { after(fn: () => Promise<void>): unknown }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'serving-int8-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const options = fixturePublishOptions('v1');
  const twins = options.catalog.map((e) => ({
    ...e,
    precision: 'int8' as const,
    devAccuracy: (e.devAccuracy ?? 0) - 0.005,
  }));
  await publishSupernet(new FileStore(root), { ...options, catalog: [...options.catalog, ...twins] });
  return join(root, FIXTURE_MODEL);
}

// Serving settings for tests: in-process engine, short calibration, no polling, silent logs.
export function testConfig(supernetUri: string, env: Record<string, string> = {}): ServingConfig {
  return loadConfig({
    SUPERNET_URI: supernetUri,
    INFERENCE_WORKERS: '0',
    ONNX_THREADS: '1',
    CALIBRATION_MS: '50',
    RELOAD_INTERVAL_MS: '0',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

// A pool wrapper whose runs wait while the gate is closed: holds requests in flight, deterministically.
export class GatedPool implements InferencePool {
  readonly inner: InferencePool;
  private closed = false;
  private waiters: Array<() => void> = [];
  runs = 0;
  waiting = 0;

  constructor(inner: InferencePool) {
    this.inner = inner;
  }

  get slots(): number {
    return this.inner.slots;
  }

  isAlive(slot: number): boolean {
    return this.inner.isAlive(slot);
  }

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.closed = false;
    for (const release of this.waiters.splice(0)) release();
  }

  async run(
    slot: number,
    subnetIndex: number,
    batch: Parameters<InferencePool['run']>[2],
  ): Promise<Float32Array> {
    this.runs++;
    if (this.closed) {
      this.waiting++;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.waiting--;
    }
    return this.inner.run(slot, subnetIndex, batch);
  }

  stats() {
    return this.inner.stats();
  }

  dispose(): Promise<void> {
    this.open();
    return this.inner.dispose();
  }
}

// Builds the app over the fixture, waits until it is ready, and closes it after the test.
export async function readyApp(
  t: TestContext,
  config: ServingConfig,
  deps: Partial<AppDeps> = {},
): Promise<ServingApp> {
  const app = await buildApp({ config, ...deps });
  t.after(() => app.close());
  await app.ready();
  await readyWithin(app);
  return app;
}

// Waits for the app's models to be ready; a model that cannot load (the server keeps retrying it) fails the test
// after `limitMs`, naming each model not ready and why, instead of holding it until the runner's time runs out.
export async function readyWithin(app: ServingApp, limitMs = 60_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = app.models
        .notReady()
        .map((m) => `${m.model}: ${m.reason}`)
        .join('; ');
      reject(new Error(`not ready after ${limitMs} ms: ${why}`));
    }, limitMs);
  });
  try {
    await Promise.race([app.models.whenReady(), late]);
  } finally {
    clearTimeout(timer);
  }
}

// A wrapPool that wraps each model's pool in a GatedPool (the last one is `gates.at(-1)`).
export function gatedPools(): { gates: GatedPool[]; wrapPool: NonNullable<AppDeps['wrapPool']> } {
  const gates: GatedPool[] = [];
  return {
    gates,
    wrapPool: (pool) => {
      const gate = new GatedPool(pool);
      gates.push(gate);
      return gate;
    },
  };
}

// The host of the one model an app serves (the fixture's).
export function onlyHost(app: ServingApp): ModelHost {
  const hosts = app.models.all;
  if (hosts.length !== 1) throw new Error(`expected one model, the app serves ${hosts.length}`);
  return hosts[0]!;
}

// Waits (polling the event loop) until a condition holds; fails after `limit` turns.
export async function until(condition: () => boolean, limit = 2000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not reached');
}
