import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../serving/app.ts';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { startTestS3, type TestS3 } from '../helpers/s3-server.ts';
import {
  FIXTURE_MODEL,
  fixturePublishOptions,
  onlyHost,
  publishFixture,
  readyApp,
  testConfig,
} from './fixture.ts';

describe('loading from S3', () => {
  let s3: TestS3;
  let root: string;

  before(async () => {
    s3 = await startTestS3();
    const store = s3.makeStore('artifacts');
    root = store.uri;
    await publishFixture(store, 'v1');
  });

  after(() => s3.stop());

  it('serves a model root on S3 (following LATEST) and hot-reloads a version published there', async (t) => {
    const config = { ...testConfig(`${root}/${FIXTURE_MODEL}`), s3: s3.storeOptions };
    const app = await readyApp(t, config);
    assert.equal(onlyHost(app).model!.version, 'v1');
    const response = await app.inject({
      method: 'POST',
      url: `/v1/models/${FIXTURE_MODEL}/predict`,
      payload: { inputs: ['from the bucket'] },
    });
    assert.equal(response.statusCode, 200);
    await publishFixture(s3.makeStore('artifacts'), 'v2', 2);
    assert.equal(await onlyHost(app).reload(), 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v2');
  });

  it('keeps a verified copy in ARTIFACT_CACHE_DIR: a bad copy is fetched again, a good one needs no bucket', async (t) => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'serving-cache-'));
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const store = s3.makeStore('cached');
    await publishFixture(store, 'v1');
    const config = {
      ...testConfig(`${store.uri}/${FIXTURE_MODEL}/v1`, { ARTIFACT_CACHE_DIR: cacheDir }),
      s3: s3.storeOptions,
    };
    const start = async () => {
      const app = await buildApp({ config, autoStart: false });
      await app.ready();
      const outcome = await app.models.start();
      await app.close();
      return outcome;
    };

    assert.deepEqual(await start(), ['loaded']);
    const [entry] = await readdir(cacheDir);
    const cachedWeights = join(cacheDir, entry!, 'weights.bin');
    const bytes = await readFile(cachedWeights);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(cachedWeights, bytes);
    assert.deepEqual(await start(), ['loaded']);
    assert.notDeepEqual(await readFile(cachedWeights), bytes);

    await store.remove(`${FIXTURE_MODEL}/v1/weights.bin`);
    assert.deepEqual(await start(), ['loaded']);
    await rm(cacheDir, { recursive: true, force: true });
    assert.deepEqual(await start(), ['failed']);
  });

  it('reads a refused version again once its weights.bin is complete (its ETag changed)', async (t) => {
    const store = s3.makeStore('late-weights');
    await publishFixture(store, 'v1');
    const app = await readyApp(t, { ...testConfig(`${store.uri}/${FIXTURE_MODEL}`), s3: s3.storeOptions });
    await publishSupernet(store, { ...fixturePublishOptions('v2', 2), updateLatest: false });
    const key = `${FIXTURE_MODEL}/v2/weights.bin`;
    const weights = await store.read(key);
    await store.write(key, weights.subarray(0, weights.length >> 1));
    await store.write(`${FIXTURE_MODEL}/LATEST`, new TextEncoder().encode('v2\n'));
    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.equal(await onlyHost(app).reload(), 'refused');
    await store.write(key, weights);
    assert.equal(await onlyHost(app).reload(), 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v2');
  });
});
