import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURE_MODEL, fixtureFolder, until } from './fixture.ts';

const SERVER = fileURLToPath(new URL('../../serving/server.ts', import.meta.url));
// Absolute, so that the server runs from any working directory.
const TSX = import.meta.resolve('tsx');

describe('server.ts', () => {
  it('listens on PORT, becomes ready, and on SIGTERM drains and exits 0', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const child = spawn(process.execPath, ['--import', TSX, SERVER], {
      cwd: tmpdir(),
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        SUPERNET_URI: modelRoot,
        INFERENCE_WORKERS: '1',
        CALIBRATION_MS: '20',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines: Array<Record<string, unknown>> = [];
    let stderr = '';
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const line of parts) if (line.trim()) lines.push(JSON.parse(line));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, 'exit');

    await until(() => lines.some((l) => l.msg === 'supernet ready') || child.exitCode !== null, 6000);
    const listening = lines.find(
      (l) => typeof l.msg === 'string' && /Server listening at/.test(l.msg as string),
    );
    assert.ok(listening, `no listening line: ${stderr}`);
    const base = /Server listening at (http:\/\/[\d.:]+)/.exec(listening.msg as string)![1]!;
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
    const response = await fetch(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: ['served by a child process'] }),
    });
    assert.equal(response.status, 200);
    assert.ok(response.headers.get('subnet-id'));

    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(lines.some((l) => l.msg === 'draining and shutting down' && l.signal === 'SIGTERM'));
    assert.ok(lines.some((l) => l.msg === 'shut down'));
    // At info, requests are not logged one by one; what was answered is summed up at shutdown.
    assert.ok(!lines.some((l) => l.msg === 'request completed'));
    const answered = lines.find((l) => l.msg === 'requests answered');
    assert.deepEqual(answered?.statuses, { 200: 1 });
  });

  it('exits 2 naming a bad environment variable', async () => {
    const child = spawn(process.execPath, ['--import', TSX, SERVER], {
      env: { ...process.env, PORT: 'eighty' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(stderr, /PORT/);
  });

  it('exits 2 with one line for a SUPERNET_URI that can never name a supernet', async (t) => {
    const { root } = await fixtureFolder(t);
    for (const [uri, message] of [
      [
        'http://models.example.com/imdb',
        /^invalid serving environment: SUPERNET_URI: unsupported storage location "http:\/\/models\.example\.com\/imdb"/,
      ],
      [
        `${root}/no-such-model`,
        /^invalid serving environment: SUPERNET_URI: .*no-such-model does not exist: name a model root/,
      ],
    ] as const) {
      const child = spawn(process.execPath, ['--import', TSX, SERVER], {
        env: { ...process.env, SUPERNET_URI: uri, PORT: '0', HOST: '127.0.0.1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const [code] = await once(child, 'exit');
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, message);
    }
  });
});
