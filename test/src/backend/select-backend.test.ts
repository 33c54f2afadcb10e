import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, selectBackend } from '../../../src/backend/select-backend.ts';
import { BackendError } from '../../../src/errors.ts';

const require = createRequire(import.meta.url);
function installed(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
const nativeInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

describe('backend choice', () => {
  it('auto falls through the native packages to wasm when they are not installed, and says why', {
    skip: nativeInstalled,
  }, async () => {
    const lines: string[] = [];
    const choice = await selectBackend('auto', (line) => lines.push(line));
    assert.equal(choice.kind, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(choice.reason, /node-gpu unavailable \(@tensorflow\/tfjs-node-gpu not installed\)/);
    assert.match(choice.reason, /node unavailable \(@tensorflow\/tfjs-node not installed\)/);
    assert.deepEqual(lines, [`tfjs backend: wasm (${choice.reason})`]);
  });

  it('gives node:util the legacy checks tfjs-node 4.22 calls, without a deprecation, before trying it', async () => {
    await selectBackend('auto');
    const util = require('node:util') as Record<string, ((value: unknown) => boolean) | undefined>;
    const missing = (): string => 'missing';
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      assert.deepEqual(
        [null, undefined, 0, ''].map((v) => (util.isNullOrUndefined ?? missing)(v)),
        [true, true, false, false],
      );
      assert.deepEqual(
        [[], {}, 'a'].map((v) => (util.isArray ?? missing)(v)),
        [true, false, false],
      );
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  });

  it('logs the same choice once per process', async () => {
    const lines: string[] = [];
    await selectBackend('cpu', (line) => lines.push(line));
    await selectBackend('cpu', (line) => lines.push(line));
    assert.deepEqual(lines, ['tfjs backend: cpu (requested)']);
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('switches on an override', async () => {
    assert.equal((await selectBackend('wasm')).tfBackend, 'wasm');
    assert.equal((await selectBackend('cpu')).tfBackend, 'cpu');
  });

  it('refuses a requested native backend that is not installed with a named error', {
    skip: nativeInstalled,
  }, async () => {
    await assert.rejects(
      selectBackend('node'),
      (e: unknown) =>
        e instanceof BackendError &&
        e.code === 'BACKEND_UNAVAILABLE' &&
        /tfjs-node not installed/.test(e.message),
    );
  });

  it('refuses an unknown preference', async () => {
    await assert.rejects(selectBackend('webgpu' as BackendPreference), /unknown backend 'webgpu'/);
  });
});
