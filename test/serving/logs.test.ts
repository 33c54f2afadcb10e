import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { type Logger, pino } from 'pino';
import { buildApp } from '../../serving/app.ts';
import {
  FIXTURE_MODEL,
  fixtureFolder,
  onlyHost,
  readyApp,
  readyWithin,
  testConfig,
  until,
} from './fixture.ts';

// A pino logger at debug whose JSON lines are kept, parsed.
function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const ERROR = 50;
const DEBUG = 20;
const INFO = 30;

describe('serving logs', () => {
  it('logs a load failure that repeats at every poll once per change of cause, with LATEST escaped and bounded', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { logger, lines } = capturedLogger();
    const app = await readyApp(t, testConfig(modelRoot), { logger });
    const failures = () => lines.filter((l) => l.msg === 'could not load the supernet (will retry)');

    // Garbage in LATEST: control bytes, bytes that are not UTF-8, and far more than a version id.
    const garbage = Buffer.concat([Buffer.from([0x00, 0xff, 0x1b, 0x0a, 0x22]), Buffer.alloc(600, 0x61)]);
    await writeFile(join(modelRoot, 'LATEST'), garbage);
    for (let i = 0; i < 3; i++) assert.equal(await onlyHost(app).reload(), 'failed');
    assert.deepEqual(
      failures().map((l) => l.level),
      [ERROR, DEBUG, DEBUG],
    );
    const message = String((failures()[0]!.err as { message: string }).message);
    assert.match(
      message,
      /LATEST does not hold a version id: "\\x00\\xff\\x1b\\n\\"a{35}" \(the first 40 of 605 bytes\)$/,
    );
    assert.ok(
      [...message].every((c) => c >= ' ' && c <= '~'),
      'only printable ASCII',
    );

    // Another cause is logged again, once.
    await writeFile(join(modelRoot, 'LATEST'), 'v9\n');
    for (let i = 0; i < 3; i++) assert.equal(await onlyHost(app).reload(), 'failed');
    assert.deepEqual(
      failures().map((l) => l.level),
      [ERROR, DEBUG, DEBUG, ERROR, DEBUG, DEBUG],
    );
    assert.equal(failures()[3]!.code, 'ARTIFACT_NOT_FOUND');
    // Still serving the version it had.
    assert.equal(onlyHost(app).model!.version, 'v1');
  });

  it('logs each request at debug, and what was answered at info every summaryIntervalMs and at close', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { logger, lines } = capturedLogger();
    const app = await buildApp({ config: testConfig(modelRoot), logger, summaryIntervalMs: 20 });
    let closed = false;
    t.after(() => (closed ? undefined : app.close()));
    await app.ready();
    await readyWithin(app);
    const url = `/v1/models/${FIXTURE_MODEL}/predict`;
    for (let i = 0; i < 3; i++) {
      const response = await app.inject({ method: 'POST', url, payload: { inputs: ['a fine film'] } });
      assert.equal(response.statusCode, 200);
    }
    assert.equal((await app.inject({ method: 'POST', url, payload: { inputs: [] } })).statusCode, 400);
    const requests = lines.filter((l) => l.msg === 'request completed');
    assert.deepEqual(
      requests.map((l) => [l.level, l.status, typeof l.reqId]),
      [...Array.from({ length: 3 }, () => [DEBUG, 200, 'string']), [DEBUG, 400, 'string']],
    );
    // Summed over the summaries logged (a request may fall either side of one).
    const summaries = () => lines.filter((l) => l.msg === 'requests answered');
    const total = (from = 0) => {
      const statuses: Record<string, number> = {};
      let count = 0;
      for (const l of summaries().slice(from)) {
        assert.equal(l.level, INFO);
        count += l.requests as number;
        for (const [status, n] of Object.entries(l.statuses as Record<string, number>)) {
          statuses[status] = (statuses[status] ?? 0) + n;
        }
      }
      return { count, statuses };
    };
    await until(() => total().count === 4);
    assert.deepEqual(total().statuses, { 200: 3, 400: 1 });
    // Nothing answered since: no summary; one more request: summed up by close at the latest.
    const logged = summaries().length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(summaries().length, logged);
    await app.inject({ method: 'POST', url, payload: { inputs: ['one more'] } });
    closed = true;
    await app.close();
    assert.deepEqual(total(logged), { count: 1, statuses: { 200: 1 } });
  });
});
