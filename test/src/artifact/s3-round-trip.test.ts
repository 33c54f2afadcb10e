import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSupernet } from '../../../src/artifact/publish-supernet.ts';
import { readSupernet, readSupernetAt } from '../../../src/artifact/read-supernet.ts';
import { ArtifactError } from '../../../src/errors.ts';
import { startTestS3, type TestS3 } from '../../helpers/s3-server.ts';
import { tinyPublishOptions } from './fixtures.ts';

const MODEL = 'tiny-sentiment';

function isArtifactError(code: string, ...fragments: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ArtifactError, `expected an ArtifactError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' should mention '${f}'`);
    return true;
  };
}

describe('artifact through a local S3 server', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startTestS3();
  });
  after(() => s3?.stop());

  it('publishes and reads back exactly, through the root, the model folder and the version folder', async () => {
    const store = s3.makeStore('round-trip');
    const options = tinyPublishOptions({ weightDtype: 'float16' });
    const manifest = await publishSupernet(store, options);
    const viaRoot = await readSupernet(store, { model: MODEL });
    assert.deepEqual(viaRoot.manifest, manifest);
    assert.equal(viaRoot.vocabText, options.vocabText);
    assert.equal(viaRoot.weights.size, options.weights.length);
    for (const w of options.weights) {
      const got = viaRoot.weights.get(w.name)!;
      w.data.forEach((v, i) => {
        assert.ok(Math.abs(got.data[i]! - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${w.name}[${i}]`);
      });
    }

    const viaModel = await readSupernetAt(s3.makeStore(`round-trip/${MODEL}`));
    assert.equal(viaModel.manifest.version, 'v1');
    assert.deepEqual(viaModel.weights, viaRoot.weights);
    const viaVersion = await readSupernetAt(s3.makeStore(`round-trip/${MODEL}/v1`));
    assert.deepEqual(viaVersion.manifest, manifest);
  });

  it('refuses a corrupted weights.bin and a truncated vocab.txt', async () => {
    const store = s3.makeStore('corrupt');
    await publishSupernet(store, tinyPublishOptions());
    const key = `${MODEL}/v1/weights.bin`;
    const original = await store.read(key);
    const flipped = original.slice();
    flipped[original.byteLength - 1] = flipped[original.byteLength - 1]! ^ 0x80;
    await store.write(key, flipped);
    await assert.rejects(readSupernet(store, { model: MODEL }), isArtifactError('CHECKSUM_MISMATCH', key));

    await store.write(key, original);
    await readSupernet(store, { model: MODEL });
    const vocabKey = `${MODEL}/v1/vocab.txt`;
    await store.write(vocabKey, (await store.read(vocabKey)).subarray(0, 10));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('TRUNCATED_FILE', vocabKey, '10 bytes'),
    );
  });

  it('names the missing key', async () => {
    const store = s3.makeStore('missing');
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${MODEL}/LATEST`, store.uri),
    );
    await publishSupernet(store, tinyPublishOptions());
    await store.remove(`${MODEL}/v1/weights.bin`);
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${MODEL}/v1/weights.bin`),
    );
    await assert.rejects(
      readSupernet(store, { model: MODEL, version: 'v2' }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${MODEL}/v2/manifest.json`),
    );
  });
});
