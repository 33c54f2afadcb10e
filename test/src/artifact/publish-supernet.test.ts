import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishSupernet } from '../../../src/artifact/publish-supernet.ts';
import { readSupernet, resolveLatestVersion } from '../../../src/artifact/read-supernet.ts';
import { ArtifactError } from '../../../src/errors.ts';
import {
  chunkingStore,
  recordingStore,
  tempFolderStore,
  tinyPublishOptions,
  tinyWeights,
} from './fixtures.ts';

function isArtifactError(code: string, ...fragments: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ArtifactError, `expected an ArtifactError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' should mention '${f}'`);
    return true;
  };
}

describe('publishSupernet + readSupernet', () => {
  it('round-trips float32 weights bit for bit, with catalog, provenance and vocabulary', async (t) => {
    const { store } = await tempFolderStore(t);
    const options = tinyPublishOptions();
    const published = await publishSupernet(store, options);
    // Through small stream chunks, so that reassembly across chunk boundaries is exercised.
    const loaded = await readSupernet(chunkingStore(store, 100), { model: 'tiny-sentiment' });

    assert.deepEqual(loaded.manifest, published);
    assert.equal(loaded.manifest.version, 'v1');
    assert.equal(loaded.manifest.createdAt, '2026-11-22T07:34:00.000Z');
    assert.equal(loaded.prefix, 'tiny-sentiment/v1/');
    assert.equal(loaded.vocabText, options.vocabText);
    assert.deepEqual(loaded.manifest.provenance, options.provenance);
    assert.deepEqual(loaded.manifest.searchSpace, options.searchSpace);
    assert.deepEqual(
      loaded.manifest.catalog.map((e) => e.id),
      ['0h1f8-t8', '0h2f16.1h2f16-t16'],
    );
    assert.equal(loaded.manifest.catalog[0]?.latencyHost, 'test-host');
    assert.equal(loaded.manifest.catalog[1]?.testAccuracy, 0.82);
    assert.equal(loaded.manifest.tokenizer.vocabSize, 50);

    assert.equal(loaded.weights.size, options.weights.length);
    for (const w of options.weights) {
      const got = loaded.weights.get(w.name);
      assert.ok(got, `missing ${w.name}`);
      assert.deepEqual(got.shape, w.shape);
      assert.deepEqual(
        Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength),
        Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength),
        w.name,
      );
    }
  });

  it('lays entries out 64-byte aligned, in order, with sizes and digests of the files', async (t) => {
    const { store } = await tempFolderStore(t);
    const manifest = await publishSupernet(store, tinyPublishOptions());
    let end = 0;
    for (const e of manifest.weights.entries) {
      assert.equal(e.offset % 64, 0, e.name);
      assert.ok(e.offset >= end && e.offset < end + 64, `${e.name} packed right after the previous entry`);
      assert.equal(e.dtype, 'float32');
      end = e.offset + e.length;
    }
    assert.equal(manifest.files['weights.bin'].bytes, end);
    assert.equal((await store.stat('tiny-sentiment/v1/weights.bin'))?.sizeBytes, end);
    assert.equal(
      (await store.stat('tiny-sentiment/v1/vocab.txt'))?.sizeBytes,
      manifest.files['vocab.txt'].bytes,
    );
    assert.match(manifest.files['vocab.txt'].sha256, /^[0-9a-f]{64}$/);
  });

  it('round-trips float16 weights within half precision, two bytes a value', async (t) => {
    const { store } = await tempFolderStore(t);
    const options = tinyPublishOptions({ weightDtype: 'float16' });
    const manifest = await publishSupernet(store, options);
    assert.ok(manifest.weights.entries.every((e) => e.dtype === 'float16'));
    manifest.weights.entries.forEach((e, i) => {
      assert.equal(e.length, options.weights[i]!.data.length * 2, e.name);
    });

    const loaded = await readSupernet(store, { model: 'tiny-sentiment', version: 'v1' });
    let exact = 0;
    for (const w of options.weights) {
      const got = loaded.weights.get(w.name)!;
      assert.ok(got.data instanceof Float32Array);
      assert.equal(got.data.length, w.data.length);
      w.data.forEach((v, i) => {
        const diff = Math.abs(got.data[i]! - v);
        assert.ok(diff <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${w.name}[${i}]: ${got.data[i]} vs ${v}`);
        if (diff === 0) exact++;
      });
    }
    const total = options.weights.reduce((n, w) => n + w.data.length, 0);
    assert.ok(exact < total / 10, 'values were really converted to half precision');
  });

  it('writes weights and vocabulary, then the manifest, then LATEST', async (t) => {
    const { store: inner } = await tempFolderStore(t);
    const { store, events } = recordingStore(inner);
    await publishSupernet(store, tinyPublishOptions());
    assert.deepEqual(
      events.map((e) => `${e.op} ${e.key}`),
      [
        'write tiny-sentiment/v1/weights.bin',
        'write tiny-sentiment/v1/vocab.txt',
        'write tiny-sentiment/v1/manifest.json',
        'write tiny-sentiment/LATEST',
      ],
    );
    assert.equal(await resolveLatestVersion(inner, 'tiny-sentiment'), 'v1');
  });

  it('leaves LATEST on the previous version when the manifest write fails', async (t) => {
    const { store: inner } = await tempFolderStore(t);
    await publishSupernet(inner, tinyPublishOptions());
    const { store } = recordingStore(inner, 'tiny-sentiment/v2/manifest.json');
    await assert.rejects(publishSupernet(store, tinyPublishOptions({ version: 'v2' })), /injected failure/);
    assert.equal(await resolveLatestVersion(inner, 'tiny-sentiment'), 'v1');
    const loaded = await readSupernet(inner, { model: 'tiny-sentiment' });
    assert.equal(loaded.manifest.version, 'v1');
    await assert.rejects(
      readSupernet(inner, { model: 'tiny-sentiment', version: 'v2' }),
      isArtifactError('ARTIFACT_NOT_FOUND', 'tiny-sentiment/v2/manifest.json'),
    );
  });

  it('moves LATEST to a newer version, and can leave it alone', async (t) => {
    const { store } = await tempFolderStore(t);
    await publishSupernet(store, tinyPublishOptions());
    await publishSupernet(store, tinyPublishOptions({ version: 'v2' }));
    assert.equal(await resolveLatestVersion(store, 'tiny-sentiment'), 'v2');
    await publishSupernet(store, tinyPublishOptions({ version: 'v3-candidate', updateLatest: false }));
    assert.equal(await resolveLatestVersion(store, 'tiny-sentiment'), 'v2');
    const pinned = await readSupernet(store, { model: 'tiny-sentiment', version: 'v3-candidate' });
    assert.equal(pinned.manifest.version, 'v3-candidate');
  });

  it('refuses to overwrite a published version unless asked, and un-commits before replacing', async (t) => {
    const { store: inner } = await tempFolderStore(t);
    const { store, events } = recordingStore(inner);
    await publishSupernet(store, tinyPublishOptions());
    events.length = 0;
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: tinyWeights(99) })),
      isArtifactError('VERSION_EXISTS', 'tiny-sentiment/v1/manifest.json'),
    );
    assert.deepEqual(events, [], 'nothing written on refusal');

    await publishSupernet(store, tinyPublishOptions({ weights: tinyWeights(99), overwrite: true }));
    assert.deepEqual(events[0], { op: 'remove', key: 'tiny-sentiment/v1/manifest.json' });
    const loaded = await readSupernet(inner, { model: 'tiny-sentiment' });
    assert.deepEqual(loaded.weights.get('classifier.bias')?.data, tinyWeights(99).at(-1)?.data);
  });

  it('names a default version after the creation time', async (t) => {
    const { store } = await tempFolderStore(t);
    const manifest = await publishSupernet(store, tinyPublishOptions({ version: undefined }));
    assert.match(manifest.version, /^20261122T073400Z-[0-9a-f]{8}$/);
    assert.equal(await resolveLatestVersion(store, 'tiny-sentiment'), manifest.version);
  });

  it('refuses bad weights with a named error, before writing anything', async (t) => {
    const { store: inner } = await tempFolderStore(t);
    const { store, events } = recordingStore(inner);
    const weights = tinyWeights();
    const first = weights[0]!;

    const duplicate = [...weights, { ...weights[3]!, data: weights[3]!.data.slice() }];
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: duplicate })),
      isArtifactError('INVALID_ARTIFACT', 'duplicate', weights[3]!.name),
    );

    const nan = first.data.slice();
    nan[17] = Number.NaN;
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: [{ ...first, data: nan }, ...weights.slice(1)] })),
      isArtifactError('INVALID_ARTIFACT', first.name, 'index 17', 'not finite'),
    );

    const inf = first.data.slice();
    inf[3] = Number.NEGATIVE_INFINITY;
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: [{ ...first, data: inf }] })),
      isArtifactError('INVALID_ARTIFACT', first.name, 'not finite'),
    );

    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: [{ ...first, shape: [50, 9] }] })),
      isArtifactError('INVALID_ARTIFACT', first.name, '[50,9]', '400'),
    );

    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ weights: [{ ...first, shape: [50, -8] }] })),
      isArtifactError('INVALID_ARTIFACT', first.name),
    );

    const big = first.data.slice();
    big[5] = 70000;
    await assert.rejects(
      publishSupernet(
        store,
        tinyPublishOptions({ weights: [{ ...first, data: big }], weightDtype: 'float16' }),
      ),
      isArtifactError('INVALID_ARTIFACT', first.name, 'overflows float16'),
    );
    // The same value is fine in float32.
    await publishSupernet(inner, tinyPublishOptions({ weights: [{ ...first, data: big }], version: 'ok' }));

    assert.deepEqual(events, []);
  });

  it('refuses a vocabulary that disagrees with the tokenizer settings', async (t) => {
    const { store } = await tempFolderStore(t);
    const base = tinyPublishOptions();
    await assert.rejects(
      publishSupernet(store, { ...base, tokenizer: { ...base.tokenizer, vocabSize: 49 } }),
      isArtifactError('INVALID_ARTIFACT', 'vocab.txt', '50', '49'),
    );
    await assert.rejects(
      publishSupernet(store, { ...base, vocabText: base.vocabText.replace('[SEP]\n', '') }),
      isArtifactError('INVALID_ARTIFACT', 'vocab.txt', '[SEP]'),
    );
    await assert.rejects(
      publishSupernet(store, { ...base, vocabText: `${base.vocabText}film\n` }),
      isArtifactError('INVALID_ARTIFACT', 'vocab.txt', 'film'),
    );
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ model: 'Tiny_Sentiment' })),
      isArtifactError('INVALID_ARTIFACT', 'Tiny_Sentiment'),
    );
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ version: '../escape' })),
      isArtifactError('INVALID_ARTIFACT', '../escape'),
    );
  });
});
