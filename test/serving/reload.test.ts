import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import {
  FIXTURE_MODEL,
  fixtureFolder,
  fixturePublishOptions,
  gatedPools,
  onlyHost,
  readyApp,
  testConfig,
  until,
} from './fixture.ts';

const PREDICT = `/v1/models/${FIXTURE_MODEL}/predict`;

describe('hot reload', () => {
  it('swaps in a new version atomically: requests in flight finish on the old one, which is then freed', async (t) => {
    const { modelRoot, store } = await fixtureFolder(t);
    const { gates, wrapPool } = gatedPools();
    const app = await readyApp(t, testConfig(modelRoot), { wrapPool });
    const v1 = onlyHost(app).model!;
    const v1Gate = gates[0]!;
    let v1Disposed = false;
    const dispose = v1Gate.dispose.bind(v1Gate);
    v1Gate.dispose = async () => {
      v1Disposed = true;
      await dispose();
    };

    v1Gate.close();
    const inFlight = app.inject({ method: 'POST', url: PREDICT, payload: { inputs: ['old version'] } });
    await until(() => v1Gate.waiting === 1);

    assert.equal(await onlyHost(app).reload(), 'unchanged');
    await publishSupernet(store, fixturePublishOptions('v2', 2));
    assert.equal(await onlyHost(app).reload(), 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v2');
    assert.notEqual(onlyHost(app).model, v1);

    // The models share the engine's one slot in process: the new version's request runs once the old call ends.
    const freshPending = app.inject({ method: 'POST', url: PREDICT, payload: { inputs: ['new version'] } });
    assert.equal(v1Disposed, false);

    v1Gate.open();
    const fresh = await freshPending;
    assert.equal(fresh.statusCode, 200);
    assert.equal(fresh.json().version, 'v2');
    const old = await inFlight;
    assert.equal(old.statusCode, 200);
    assert.equal(old.json().version, 'v1');
    await until(() => v1Disposed);
    assert.match(
      (await app.inject({ url: '/metrics' })).body,
      /serving_model_info\{model="fixture-sentiment",version="v2"\} 1/,
    );
  });

  it('refuses a version whose weights fail their checksum, logs it, and keeps serving the old one', async (t) => {
    const { root, modelRoot, store } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    await publishSupernet(store, { ...fixturePublishOptions('v2', 2), updateLatest: false });
    const weightsPath = join(root, FIXTURE_MODEL, 'v2', 'weights.bin');
    const weights = await readFile(weightsPath);
    const middle = weights.length >> 1;
    weights[middle] = weights[middle]! ^ 0xff;
    await writeFile(weightsPath, weights);
    await writeFile(join(modelRoot, 'LATEST'), 'v2\n');

    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.equal(onlyHost(app).model!.version, 'v1');
    const response = await app.inject({ method: 'POST', url: PREDICT, payload: { inputs: ['still here'] } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().version, 'v1');
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    // Refused once and for all: the next poll does not read it again.
    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.match(
      (await app.inject({ url: '/metrics' })).body,
      /serving_reloads_total\{model="fixture-sentiment",outcome="refused"\} 1\n/,
    );

    // A good version after it is taken.
    await publishSupernet(store, fixturePublishOptions('v3', 3));
    assert.equal(await onlyHost(app).reload(), 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v3');
  });

  it('refuses a malformed manifest and a version that does not fit its catalog; retries a missing one', async (t) => {
    const { modelRoot, store } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));

    await publishSupernet(store, { ...fixturePublishOptions('v2', 2), updateLatest: false });
    const manifestPath = join(modelRoot, 'v2', 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    manifest.catalog[0].devAccuracy = 7;
    await writeFile(manifestPath, JSON.stringify(manifest));
    await writeFile(join(modelRoot, 'LATEST'), 'v2\n');
    assert.equal(await onlyHost(app).reload(), 'refused');

    await publishSupernet(store, { ...fixturePublishOptions('v3', 3), catalog: [], updateLatest: false });
    await writeFile(join(modelRoot, 'LATEST'), 'v3\n');
    assert.equal(await onlyHost(app).reload(), 'refused');

    await writeFile(join(modelRoot, 'LATEST'), 'v9\n');
    assert.equal(await onlyHost(app).reload(), 'failed');
    assert.equal(await onlyHost(app).reload(), 'failed');

    await writeFile(join(modelRoot, 'LATEST'), 'not a version!\n');
    assert.equal(await onlyHost(app).reload(), 'failed');
    assert.equal(onlyHost(app).model!.version, 'v1');
    assert.equal(
      (await app.inject({ method: 'POST', url: PREDICT, payload: { inputs: ['ok'] } })).statusCode,
      200,
    );
  });

  it('polls LATEST every RELOAD_INTERVAL_MS', async (t) => {
    const { modelRoot, store } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { RELOAD_INTERVAL_MS: '20' }));
    assert.equal(onlyHost(app).model!.version, 'v1');
    await publishSupernet(store, fixturePublishOptions('v2', 2));
    await until(() => onlyHost(app).model?.version === 'v2');
  });

  it('serves one version folder (no LATEST) and does not reload it', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(join(modelRoot, 'v1')));
    assert.equal(onlyHost(app).model!.version, 'v1');
    assert.equal(await onlyHost(app).reload(), 'unchanged');
  });
  it('reads a refused version again once its files change: weights.bin completed after LATEST was written', async (t) => {
    const { modelRoot, store } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    await publishSupernet(store, { ...fixturePublishOptions('v2', 2), updateLatest: false });
    const weightsPath = join(modelRoot, 'v2', 'weights.bin');
    const weights = await readFile(weightsPath);
    // LATEST written while weights.bin is still being copied.
    await writeFile(weightsPath, weights.subarray(0, weights.length >> 1));
    await writeFile(join(modelRoot, 'LATEST'), 'v2\n');
    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.equal(onlyHost(app).model!.version, 'v1');
    // The copy completes: the next look reads it again and takes it.
    await writeFile(weightsPath, weights);
    assert.equal(await onlyHost(app).reload(), 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v2');
  });

  it('reads a version refused for its manifest again once the manifest changes, with backoff between attempts', async (t) => {
    const { modelRoot, store } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    await publishSupernet(store, { ...fixturePublishOptions('v2', 2), updateLatest: false });
    const manifestPath = join(modelRoot, 'v2', 'manifest.json');
    const good = await readFile(manifestPath, 'utf8');
    await writeFile(manifestPath, good.replace('"version": "v2"', '"version": "v1"'));
    await writeFile(join(modelRoot, 'LATEST'), 'v2\n');
    assert.equal(await onlyHost(app).reload(), 'refused');
    // Changed but still bad: read again at once, refused again.
    await writeFile(manifestPath, good.replace('"version": "v2"', '"version": "v3"'));
    assert.equal(await onlyHost(app).reload(), 'refused');
    // Fixed: after a second refusal the next attempt waits (1 s) even though the files changed.
    await writeFile(manifestPath, good);
    assert.equal(await onlyHost(app).reload(), 'refused');
    assert.equal(onlyHost(app).model!.version, 'v1');
    // Polled until the backoff has passed (bounded: the backoff is 1 s).
    let outcome = await onlyHost(app).reload();
    for (let i = 0; i < 400 && outcome !== 'loaded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      outcome = await onlyHost(app).reload();
    }
    assert.equal(outcome, 'loaded');
    assert.equal(onlyHost(app).model!.version, 'v2');
  });
});
