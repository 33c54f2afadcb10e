import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { FIXTURE_MODEL, fixtureFolder, fixturePublishOptions, LARGEST_POINT } from './fixture.ts';

// An API Gateway HTTP API (payload 2.0) / Function URL event.
function event(method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.lambda-url.us-east-1.on.aws',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'id',
      routeKey: '$default',
      stage: '$default',
      time: '22/Nov/2026:08:00:00 +0000',
      timeEpoch: 0,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body), isBase64Encoded: false }),
  };
}

describe('lambda.ts', () => {
  it('loads a repository at init (each model cached under ARTIFACT_CACHE_DIR) and answers Function URL events', async (t) => {
    const { root, store } = await fixtureFolder(t);
    await publishSupernet(store, { ...fixturePublishOptions('v1', 2), model: 'second-model' });
    const cacheDir = await mkdtemp(join(tmpdir(), 'lambda-cache-'));
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    Object.assign(process.env, {
      SUPERNET_URI: root,
      ARTIFACT_CACHE_DIR: cacheDir,
      CALIBRATION_MS: '20',
      LOG_LEVEL: 'silent',
    });
    const { handler } = await import('../../serving/lambda.ts');
    const context = {} as Parameters<typeof handler>[1];
    assert.equal((await readdir(cacheDir)).length, 2);

    const ready = await handler(event('GET', '/v2/health/ready'), context);
    assert.equal(ready.statusCode, 200);
    const response = await handler(
      event(
        'POST',
        `/v1/models/${FIXTURE_MODEL}/predict`,
        { 'latency-budget-ms': '100000' },
        { inputs: ['hello lambda'] },
      ),
      context,
    );
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['subnet-id'], LARGEST_POINT);
    assert.match(response.headers['server-timing']!, /total;dur=/);
    assert.equal(JSON.parse(response.body).outputs.length, 1);
    const second = await handler(
      event('POST', '/v1/models/second-model/predict', {}, { inputs: ['hello again'] }),
      context,
    );
    assert.equal(second.statusCode, 200);
    const listed = JSON.parse((await handler(event('GET', '/v1/models'), context)).body);
    assert.deepEqual(
      listed.models.map((m: { name: string }) => m.name),
      [FIXTURE_MODEL, 'second-model'],
    );
    const problem = await handler(
      event('POST', `/v1/models/${FIXTURE_MODEL}/predict`, {}, { inputs: [] }),
      context,
    );
    assert.equal(problem.statusCode, 400);
    assert.match(problem.headers['content-type']!, /problem\+json/);
    // The page is off on Lambda unless PAGE=on.
    assert.equal((await handler(event('GET', '/'), context)).statusCode, 404);
  });
});
