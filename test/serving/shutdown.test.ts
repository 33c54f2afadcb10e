import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURE_MODEL, fixtureFolder, until } from './fixture.ts';

const SERVER = fileURLToPath(new URL('../../serving/server.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const CONNECTIONS = 16;

// What one request got: an HTTP answer, or the error of a request that got none.
interface Outcome {
  status?: number;
  code?: string;
  connection?: string;
  error?: string;
}

function post(agent: Agent, base: string, body: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      `${base}/v1/models/${FIXTURE_MODEL}/predict`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { code?: string }).code;
          } catch {
            code = undefined;
          }
          resolve({
            status: response.statusCode ?? 0,
            ...(code === undefined ? {} : { code }),
            connection: String(response.headers.connection ?? ''),
          });
        });
        response.on('error', (error) => resolve({ error: error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

describe('server.ts shutdown', () => {
  it('answers every request that reached it when SIGTERM comes under keep-alive load, and exits 0', async (t) => {
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
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, 'exit');
    await until(() => stdout.includes('"supernet ready"') || child.exitCode !== null, 6000);
    const base = /Server listening at (http:\/\/[\d.:]+)/.exec(stdout)?.[1];
    assert.ok(base, `no listening line: ${stderr}`);

    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    t.after(() => agent.destroy());
    const outcomes: Outcome[][] = Array.from({ length: CONNECTIONS }, () => []);
    const body = JSON.stringify({ inputs: ['A slow start, but the last hour is wonderful.'] });
    // Each client sends one request after another on its keep-alive connection until it is refused or fails.
    const clients = outcomes.map(async (mine) => {
      for (;;) {
        const outcome = await post(agent, base, body);
        mine.push(outcome);
        if (outcome.error !== undefined || outcome.status !== 200) return;
      }
    });
    await until(() => outcomes.flat().length >= 20 * CONNECTIONS, 6000);
    child.kill('SIGTERM');
    await Promise.all(clients);
    const [code] = await exited;

    const all = outcomes.flat();
    const failed = all.filter((o) => o.error !== undefined);
    assert.deepEqual(failed, [], `requests without an answer: ${JSON.stringify(failed)}`);
    for (const mine of outcomes) {
      // Every connection was answered 200 until the drain, then refused with 503 SHUTTING_DOWN and closed.
      const last = mine.at(-1)!;
      assert.deepEqual(last, { status: 503, code: 'SHUTTING_DOWN', connection: 'close' });
      assert.ok(mine.slice(0, -1).every((o) => o.status === 200));
    }
    assert.equal(code, 0, stderr);
  });
});
