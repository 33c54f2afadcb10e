import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_SUPERNET_URI, loadConfig, ServingConfigError } from '../../serving/config.ts';

describe('serving config', () => {
  it('has defaults, and the default is the repository models/ under the package root', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.engine, 'onnx');
    assert.equal(config.onnxGraph, 'fused');
    assert.equal(loadConfig({ ONNX_GRAPH: 'plain' }).onnxGraph, 'plain');
    assert.equal(config.defaultLatencyBudgetMs, undefined);
    assert.equal(config.defaultBudgetMode, 'best-effort');
    assert.equal(config.reloadIntervalMs, 30_000);
    assert.equal(config.supernetUri, DEFAULT_SUPERNET_URI);
    assert.ok(DEFAULT_SUPERNET_URI.endsWith('models'));
    assert.ok(existsSync(join(DEFAULT_SUPERNET_URI, '..', 'package.json')));
    assert.ok(existsSync(join(DEFAULT_SUPERNET_URI, 'imdb-sentiment', 'LATEST')));
    // TEI's routes serve the bundled sentiment model, unless SUPERNET_URI names other models.
    assert.equal(config.defaultModel, 'imdb-sentiment');
    assert.equal(loadConfig({ SUPERNET_URI: '/elsewhere' }).defaultModel, undefined);
  });

  it('uses Lambda defaults: in-process engine, /tmp cache, no polling', () => {
    const config = loadConfig({}, 'lambda');
    assert.equal(config.inferenceWorkers, 0);
    assert.equal(config.artifactCacheDir, '/tmp/supernet-cache');
    assert.equal(config.reloadIntervalMs, 0);
  });

  it('parses values and treats empty variables as unset', () => {
    const config = loadConfig({
      PORT: '9000',
      DEFAULT_LATENCY_BUDGET_MS: '25',
      MAX_BODY_BYTES: '4096',
      TOKEN_LIMIT: 'reject',
      MAX_TOKENS_PER_TEXT: '',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
      S3_FORCE_PATH_STYLE: 'true',
    });
    assert.equal(config.port, 9000);
    assert.equal(config.defaultLatencyBudgetMs, 25);
    assert.equal(config.maxBodyBytes, 4096);
    assert.equal(config.tokenLimit, 'reject');
    assert.equal(config.maxTokensPerText, undefined);
    assert.equal(config.s3.endpoint, 'http://127.0.0.1:9');
    assert.equal(config.s3.forcePathStyle, true);
  });

  it('reads the load trade and the batch cap, and refuses a trade that ends before it starts', () => {
    const config = loadConfig({ LOAD_TRADE_ACCURACY: '0.05', LOAD_TRADE_FROM: '0.4', MAX_BATCH_MS: '3.5' });
    assert.deepEqual(config.loadTrade, { from: 0.4, to: 0.85, accuracy: 0.05 });
    assert.equal(config.maxBatchMs, 3.5);
    assert.deepEqual(loadConfig({}).loadTrade, { from: 0.5, to: 0.85, accuracy: 0 });
    assert.throws(
      () => loadConfig({ LOAD_TRADE_FROM: '0.9', LOAD_TRADE_TO: '0.6' }),
      (error: unknown) =>
        error instanceof ServingConfigError &&
        /LOAD_TRADE_TO \(0\.6\) must be above LOAD_TRADE_FROM/.test(error.message),
    );
  });

  it('names every bad variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', ENGINE: 'pytorch', MAX_QUEUE: '0', ONNX_GRAPH: 'quick' }),
      (e: unknown) =>
        e instanceof ServingConfigError &&
        e.message.includes('ONNX_GRAPH') &&
        e.message.includes('PORT') &&
        e.message.includes('ENGINE') &&
        e.message.includes('MAX_QUEUE'),
    );
    assert.throws(
      () => loadConfig({ PORT: 'eighty', ENGINE: 'pytorch' }),
      (e: unknown) =>
        e instanceof ServingConfigError &&
        /^invalid serving environment: PORT="eighty": [^\n]+; ENGINE="pytorch": [^\n]+$/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ HOST: 'h'.repeat(10_000), ENGINE: 'x'.repeat(10_000) }),
      (e: unknown) =>
        e instanceof ServingConfigError &&
        e.message.includes(`ENGINE="${'x'.repeat(60)}..."`) &&
        e.message.length < 300,
    );
  });

  it('reads DEFAULT_MODEL (the model of the TEI routes) as a model name', () => {
    assert.equal(loadConfig({ SUPERNET_URI: '/srv/models' }).defaultModel, undefined);
    assert.equal(loadConfig({ DEFAULT_MODEL: 'imdb-sentiment' }).defaultModel, 'imdb-sentiment');
    assert.throws(
      () => loadConfig({ DEFAULT_MODEL: 'IMDB Sentiment' }),
      (e: unknown) =>
        e instanceof ServingConfigError &&
        /^invalid serving environment: DEFAULT_MODEL="IMDB Sentiment": model name must match/.test(e.message),
    );
  });
});
