import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { type AppDeps, buildApp, type ServingApp } from '../../serving/app.ts';
import { describeNames } from '../../serving/route-context.ts';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import type { ObjectStore } from '../../src/storage/object-store.ts';
import { startTestS3 } from '../helpers/s3-server.ts';
import {
  FIXTURE_MODEL,
  fixturePublishOptions,
  type GatedPool,
  gatedPools,
  LONG_TEXT,
  testConfig,
  until,
} from './fixture.ts';

const SECOND = 'second-model';

// Publishes version `version` of a fixture model under another name.
async function publishModel(store: ObjectStore, model: string, version = 'v1', seed = 2): Promise<void> {
  await publishSupernet(store, { ...fixturePublishOptions(version, seed), model });
}

// A repository root with the fixture model and a second one.
async function repositoryRoot(t: TestContext): Promise<{ root: string; store: FileStore }> {
  const root = await mkdtemp(join(tmpdir(), 'repository-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new FileStore(root);
  await publishSupernet(store, fixturePublishOptions('v1'));
  await publishModel(store, SECOND);
  return { root, store };
}

// The app over a root, started (each model's first attempt over), closed after the test; its log lines kept.
async function startedApp(
  t: TestContext,
  uri: string,
  deps: Partial<AppDeps> = {},
  env: Record<string, string> = {},
): Promise<{ app: ServingApp; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = await buildApp({
    config: testConfig(uri, env),
    logger: pino({ level: 'info' }, stream),
    autoStart: false,
    ...deps,
  });
  t.after(() => app.close());
  await app.ready();
  await app.models.start();
  return { app, lines };
}

function predict(app: ServingApp, model: string, text = 'A fine film.') {
  return app.inject({ method: 'POST', url: `/v1/models/${model}/predict`, payload: { inputs: [text] } });
}

describe('model repository', () => {
  it('serves every model of a root, each with its own catalog, and lists them', async (t) => {
    const { root } = await repositoryRoot(t);
    const { app } = await startedApp(t, root);
    assert.deepEqual((await app.inject({ url: '/v2/health/ready' })).json(), { ready: true });
    const listed = (await app.inject({ url: '/v1/models' })).json().models;
    assert.deepEqual(
      listed.map((m: Record<string, unknown>) => [m.name, m.version, m.ready, m.task, m.operatingPoints]),
      [
        [FIXTURE_MODEL, 'v1', true, { input: 'single', labels: 2 }, 5],
        [SECOND, 'v1', true, { input: 'single', labels: 2 }, 5],
      ],
    );
    const first = await predict(app, FIXTURE_MODEL, LONG_TEXT);
    const second = await predict(app, SECOND, LONG_TEXT);
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    assert.equal(first.json().model, FIXTURE_MODEL);
    assert.equal(second.json().model, SECOND);
    // Different weights (seeds 1 and 2): the two models answer the same text differently.
    assert.notDeepEqual(first.json().outputs[0].scores, second.json().outputs[0].scores);
    for (const model of [FIXTURE_MODEL, SECOND]) {
      assert.deepEqual((await app.inject({ url: `/v2/models/${model}/ready` })).json(), {
        name: model,
        ready: true,
      });
    }
    const metrics = (await app.inject({ url: '/metrics' })).body;
    for (const model of [FIXTURE_MODEL, SECOND]) {
      assert.match(metrics, new RegExp(`serving_model_info\\{model="${model}",version="v1"\\} 1`));
      assert.match(
        metrics,
        new RegExp(`serving_requests_total\\{model="${model}",route="/v1/models/:model/predict"`),
      );
      assert.match(metrics, new RegExp(`serving_ready\\{model="${model}"\\} 1`));
    }
  });

  it('answers an unknown model with a 404 naming the models served, a few and then a count', async (t) => {
    const { root } = await repositoryRoot(t);
    const { app } = await startedApp(t, root);
    const response = await predict(app, 'nope');
    assert.equal(response.statusCode, 404);
    assert.equal(response.json().code, 'UNKNOWN_MODEL');
    assert.match(
      response.json().detail,
      /no model 'nope'; this server serves 'fixture-sentiment' and 'second-model'/,
    );
    assert.equal((await app.inject({ url: '/v2/models/nope/ready' })).statusCode, 404);
    const names = Array.from({ length: 8 }, (_, i) => `m${i}`);
    assert.equal(
      describeNames(names),
      "this server serves 'm0', 'm1', 'm2', 'm3', 'm4' and 3 more (GET /v1/models lists them)",
    );
  });

  it('skips what is not a model with one log line each, never follows a link, and refuses an impostor', async (t) => {
    const { root } = await repositoryRoot(t);
    await writeFile(join(root, 'README.txt'), 'not a model');
    await mkdir(join(root, 'drafts'));
    await writeFile(join(root, 'drafts', 'notes.json'), '{}');
    await cp(join(root, SECOND), join(root, 'Bad_Name'), { recursive: true });
    const outside = await mkdtemp(join(tmpdir(), 'outside-'));
    t.after(() => rm(outside, { recursive: true, force: true }));
    await publishModel(new FileStore(outside), 'linked');
    await symlink(join(outside, 'linked'), join(root, 'linked'));
    // A copy of the fixture model under another folder: its manifest still names fixture-sentiment.
    await cp(join(root, FIXTURE_MODEL), join(root, 'impostor'), { recursive: true });
    const { app, lines } = await startedApp(t, root);

    const skipped = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('skipping '));
    assert.deepEqual(skipped.map((l) => l.child).sort(), ['Bad_Name', 'README.txt', 'drafts', 'linked']);
    assert.match(String(skipped.find((l) => l.child === 'linked')?.reason), /symbolic link, never followed/);
    assert.match(String(skipped.find((l) => l.child === 'Bad_Name')?.reason), /not a model name/);
    assert.match(String(skipped.find((l) => l.child === 'drafts')?.reason), /no LATEST/);
    const refusal = lines.filter((l) => l.model === 'impostor' && l.level === 50);
    assert.equal(refusal.length, 1);
    assert.match(
      String((refusal[0]!.err as { message: string }).message),
      /names model 'fixture-sentiment'.*folder of model 'impostor'/,
    );

    // The refused impostor never stops the others: the server is ready and says what it does not serve.
    const ready = (await app.inject({ url: '/v2/health/ready' })).json();
    assert.equal(ready.ready, true);
    assert.deepEqual(
      ready.refused.map((r: { model: string }) => r.model),
      ['impostor'],
    );
    assert.equal((await app.inject({ url: '/v2/models/impostor/ready' })).statusCode, 503);
    assert.equal((await predict(app, FIXTURE_MODEL)).json().version, 'v1');
    assert.equal((await predict(app, SECOND)).statusCode, 200);
    assert.equal((await predict(app, 'linked')).statusCode, 404);

    // A second look logs nothing new.
    const before = lines.length;
    await app.models.reload();
    assert.equal(lines.slice(before).filter((l) => String(l.msg).startsWith('skipping ')).length, 0);
  });

  it('stays not ready while a model found at start is not loaded, and names it', async (t) => {
    const { root } = await repositoryRoot(t);
    // LATEST names a version not written yet: a load that fails (and is retried), not a refusal.
    await writeFile(join(root, SECOND, 'LATEST'), 'v9\n');
    const { app } = await startedApp(t, root);
    const response = await app.inject({ url: '/v2/health/ready' });
    assert.equal(response.statusCode, 503);
    assert.match(response.json().detail, /^second-model: the supernet could not be loaded yet/);
    assert.equal((await predict(app, FIXTURE_MODEL)).statusCode, 200);
    assert.equal((await predict(app, SECOND)).statusCode, 503);
    await writeFile(join(root, SECOND, 'LATEST'), 'v1\n');
    await app.models.reload();
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    assert.equal((await predict(app, SECOND)).statusCode, 200);
  });

  it('serves a model published into the root at the next look, and retires a removed one after its requests', async (t) => {
    const { root, store } = await repositoryRoot(t);
    const { wrapPool } = gatedPools();
    const { app, lines } = await startedApp(t, root, { wrapPool });
    assert.equal((await predict(app, 'third')).statusCode, 404);
    await publishModel(store, 'third', 'v1', 3);
    await app.models.reload();
    assert.equal((await predict(app, 'third')).statusCode, 200);
    assert.ok(lines.some((l) => l.msg === 'found model third'));

    // A request in flight on the second model while its folder is removed.
    const secondGate = app.models.host(SECOND)!.model!.pool as GatedPool;
    let disposed = false;
    const dispose = secondGate.dispose.bind(secondGate);
    secondGate.dispose = async () => {
      disposed = true;
      await dispose();
    };
    secondGate.close();
    const inFlight = predict(app, SECOND);
    await until(() => secondGate.waiting === 1);
    await rm(join(root, SECOND), { recursive: true });
    await app.models.reload();
    assert.deepEqual(
      (await app.inject({ url: '/v1/models' })).json().models.map((m: { name: string }) => m.name),
      [FIXTURE_MODEL, 'third'],
    );
    assert.equal((await predict(app, SECOND)).statusCode, 404);
    assert.equal(disposed, false);
    secondGate.open();
    assert.equal((await inFlight).statusCode, 200);
    await until(() => disposed);
    assert.equal((await predict(app, FIXTURE_MODEL)).statusCode, 200);
  });

  it('serves only the models MODELS names, without listing the root', async (t) => {
    const { root, store } = await repositoryRoot(t);
    await publishModel(store, 'third', 'v1', 3);
    await writeFile(join(root, 'README.txt'), 'not a model');
    const { app, lines } = await startedApp(t, root, {}, { MODELS: `third, ${FIXTURE_MODEL}` });
    assert.deepEqual(app.models.names(), [FIXTURE_MODEL, 'third']);
    assert.equal((await predict(app, 'third')).statusCode, 200);
    assert.equal((await predict(app, SECOND)).statusCode, 404);
    assert.equal(lines.filter((l) => String(l.msg).startsWith('skipping ')).length, 0);

    // A model named but not published yet holds readiness back, and says so.
    const { app: waiting } = await startedApp(t, root, {}, { MODELS: `${FIXTURE_MODEL},later` });
    const ready = await waiting.inject({ url: '/v2/health/ready' });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.json().detail, /^later: /);
    await publishModel(store, 'later', 'v1', 4);
    await waiting.models.reload();
    assert.equal((await waiting.inject({ url: '/v2/health/ready' })).statusCode, 200);
  });

  it('keeps serving every model while the storage is down during a look', async (t) => {
    const s3 = await startTestS3();
    t.after(() => s3.stop());
    const store = s3.makeStore('repository');
    await publishSupernet(store, fixturePublishOptions('v1'));
    await publishModel(store, SECOND);
    const proxy = await tcpProxy(new URL(s3.endpoint));
    t.after(() => proxy.close());
    const app = await buildApp({
      config: {
        ...testConfig(store.uri),
        s3: { ...s3.storeOptions, endpoint: proxy.endpoint, maxAttempts: 1 },
      },
      autoStart: false,
    });
    t.after(() => app.close());
    await app.ready();
    await app.models.start();
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);

    proxy.down();
    await app.models.reload();
    assert.deepEqual(app.models.names(), [FIXTURE_MODEL, SECOND]);
    for (const model of [FIXTURE_MODEL, SECOND]) assert.equal((await predict(app, model)).statusCode, 200);
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    proxy.up();
    await app.models.reload();
    assert.deepEqual(app.models.names(), [FIXTURE_MODEL, SECOND]);
  });
});

// A TCP proxy to a server that can be taken down (every connection refused or cut) and brought back.
async function tcpProxy(target: URL): Promise<{
  endpoint: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}> {
  let isDown = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    upstream.connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    down() {
      isDown = true;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
