import assert from 'node:assert/strict';
import { test } from 'node:test';
import { s3OptionsFromEnv } from '../../../src/storage/s3-options-from-env.ts';

test('s3OptionsFromEnv: an empty environment gives no options (the SDK defaults apply)', () => {
  assert.deepEqual(s3OptionsFromEnv({}), {});
  assert.deepEqual(s3OptionsFromEnv({ AWS_REGION: '', S3_FORCE_PATH_STYLE: ' ', UNRELATED: 'x' }), {});
});

test('s3OptionsFromEnv: region, endpoint override, path style and attempts', () => {
  assert.deepEqual(
    s3OptionsFromEnv({
      AWS_REGION: 'eu-central-1',
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7480',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9999',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_MAX_ATTEMPTS: '5',
      AWS_ACCESS_KEY_ID: 'left-to-the-sdk',
    }),
    { region: 'eu-central-1', endpoint: 'http://127.0.0.1:7480', forcePathStyle: true, maxAttempts: 5 },
  );
  assert.deepEqual(
    s3OptionsFromEnv({
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_ENDPOINT_URL: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: '0',
    }),
    { region: 'us-west-2', endpoint: 'http://minio:9000', forcePathStyle: false },
  );
});

test('s3OptionsFromEnv: malformed values are refused, naming the variable', () => {
  for (const env of [
    { AWS_ENDPOINT_URL_S3: 'not a url' },
    { S3_FORCE_PATH_STYLE: 'maybe' },
    { AWS_MAX_ATTEMPTS: '0' },
    { AWS_MAX_ATTEMPTS: 'three' },
  ]) {
    const name = Object.keys(env)[0] ?? '';
    assert.throws(
      () => s3OptionsFromEnv(env),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'INVALID_STORAGE_URI');
        assert.ok(error.message.includes(name), error.message);
        return true;
      },
    );
  }
});
