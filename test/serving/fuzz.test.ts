import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/model/random.ts';
import {
  FIXTURE_MODEL,
  fixtureFolder,
  LARGEST_POINT,
  readyApp,
  SMALLEST_POINT,
  testConfig,
} from './fixture.ts';

const CASES = 400;

// Strings that have broken parsers before: unicode planes, lone surrogates, controls, RTL, huge and odd numbers.
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uD83D\uDE00',
  '\u202Eevil',
  '\uFEFF',
  'e\u0301',
  '\u4E2D\u6587',
  '\u0928\u092E\u0938\u094D\u0924\u0947',
  '\n\r\t',
  '[CLS] [SEP] [PAD] [UNK] [MASK]',
  '##ing',
  'a'.repeat(300),
  '\u200B'.repeat(50),
  'NaN',
  'Infinity',
  '-0',
  '1e308',
  '0x1F',
  '__proto__',
  'constructor',
  '<script>alert(1)</script>',
  "'; DROP TABLE subnets; --",
];
const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1e-300,
  1e308,
  Number.MAX_SAFE_INTEGER,
  0.5,
  1,
  2,
  1e6,
  3.6e6,
  3.6e6 + 1,
  123.456,
];

// encodeURIComponent, with lone surrogates (which it refuses) sent percent-encoded raw.
function encodePath(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return rng.pick(items);
}

function randomText(rng: Rng): string {
  if (rng.next() < 0.5) return pick(rng, NASTY_STRINGS);
  const length = rng.int(40);
  let text = '';
  for (let i = 0; i < length; i++) {
    const r = rng.next();
    const code =
      r < 0.5
        ? 32 + rng.int(95)
        : r < 0.8
          ? 0x80 + rng.int(0x800)
          : r < 0.95
            ? 0x3000 + rng.int(0x6000)
            : rng.int(0x10000);
    text += String.fromCharCode(code);
  }
  return text;
}

// Any JSON value, nested a little.
function randomValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(depth > 2 ? 5 : 8);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.next() < 0.5;
    case 2:
      return pick(rng, NASTY_NUMBERS) * (rng.next() < 0.3 ? -1 : 1);
    case 3:
      return randomText(rng);
    case 4:
      return rng.int(1000);
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, () => [
          pick(rng, [
            'inputs',
            'parameters',
            'latency_budget_ms',
            'subnet_id',
            'data',
            'shape',
            randomText(rng),
          ]),
          randomValue(rng, depth + 1),
        ]),
      );
  }
}

function randomParameters(rng: Rng): unknown {
  const keys = ['latency_budget_ms', 'memory_budget_mb', 'min_accuracy', 'budget_mode', 'subnet_id', 'extra'];
  const values = [
    ...NASTY_NUMBERS,
    'strict',
    'best-effort',
    SMALLEST_POINT,
    LARGEST_POINT,
    '0h9f9-t9',
    null,
    true,
    [],
    {},
  ];
  return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [pick(rng, keys), pick(rng, values)]));
}

function randomBody(rng: Rng, oip: boolean): string {
  const r = rng.next();
  if (r < 0.15) {
    // Broken JSON.
    const valid = JSON.stringify({ inputs: [randomText(rng)] });
    return valid.slice(0, rng.int(valid.length));
  }
  if (r < 0.3) return JSON.stringify(randomValue(rng));
  const texts = Array.from({ length: rng.int(5) }, () =>
    rng.next() < 0.9 ? randomText(rng) : randomValue(rng),
  );
  const parameters = rng.next() < 0.5 ? randomParameters(rng) : undefined;
  if (!oip) return JSON.stringify({ inputs: texts, ...(parameters ? { parameters } : {}) });
  return JSON.stringify({
    ...(parameters ? { parameters } : {}),
    inputs: [
      {
        name: 'text',
        shape: rng.next() < 0.8 ? [texts.length] : [pick(rng, [-1, 0, 1e9, 2.5]), 1],
        datatype: pick(rng, ['BYTES', 'BYTES', 'FP32', 'bytes', '']),
        data: texts,
      },
    ],
  });
}

// Header values: printable ASCII and Latin-1 only (what HTTP allows in a field value).
function randomHeaderValue(rng: Rng): string {
  const choices = [
    '0.001',
    '10',
    '1e3',
    '-5',
    '0',
    'NaN',
    '1'.repeat(30),
    ' 5 ',
    '5,6',
    'strict',
    'STRICT',
    'best-effort',
    SMALLEST_POINT,
    '0h1f32',
    '0h1f32-t999',
    '\u00e9t\u00e9',
    '...',
    '.5',
    '5.',
  ];
  if (rng.next() < 0.8) return pick(rng, choices);
  let value = '';
  for (let i = 0; i < rng.int(20); i++) value += String.fromCharCode(32 + rng.int(95));
  return value;
}

describe('fuzz: malformed JSON, headers, numbers and unicode never yield a 5xx', () => {
  it(`survives ${CASES} seeded random requests`, async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const rng = new Rng(20261122);
    const statuses = new Map<number, number>();
    const headerNames = ['latency-budget-ms', 'memory-budget-mb', 'min-accuracy', 'budget-mode', 'subnet-id'];
    for (let i = 0; i < CASES; i++) {
      const oip = rng.next() < 0.4;
      const model =
        rng.next() < 0.9 ? FIXTURE_MODEL : pick(rng, ['other', '%00', '..', 'a'.repeat(200), '\u00e9']);
      const url = oip ? `/v2/models/${encodePath(model)}/infer` : `/v1/models/${encodePath(model)}/predict`;
      const headers: Record<string, string> = {
        'content-type': pick(rng, [
          'application/json',
          'application/json',
          'application/json; charset=utf-8',
          'text/plain',
          'application/x-www-form-urlencoded',
        ]),
      };
      for (const name of headerNames) if (rng.next() < 0.25) headers[name] = randomHeaderValue(rng);
      const payload = randomBody(rng, oip);
      const response = await app.inject({ method: 'POST', url, headers, payload });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      assert.ok(
        response.statusCode < 500,
        `case ${i}: ${response.statusCode} ${response.body} for ${url} ${JSON.stringify(headers)} ${payload}`,
      );
      if (response.statusCode >= 400) {
        assert.match(
          String(response.headers['content-type']),
          /^application\/problem\+json/,
          `case ${i}: ${response.statusCode} ${response.body} ${url} ${payload}`,
        );
        assert.match(response.json().code, /^[A-Z_]+$/);
      } else {
        assert.equal(response.statusCode, 200);
        assert.ok(response.headers['subnet-id']);
      }
    }
    // The fuzz reached both success and every family of refusal.
    assert.ok((statuses.get(200) ?? 0) > 10, JSON.stringify([...statuses]));
    assert.ok((statuses.get(400) ?? 0) > 50, JSON.stringify([...statuses]));
    assert.ok((statuses.get(404) ?? 0) > 0, JSON.stringify([...statuses]));
    // Still healthy afterwards.
    const after = await app.inject({
      method: 'POST',
      url: `/v1/models/${FIXTURE_MODEL}/predict`,
      payload: { inputs: ['fine'] },
    });
    assert.equal(after.statusCode, 200);
  });

  it('treats GET routes with odd paths and query strings the same way', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const rng = new Rng(7);
    for (let i = 0; i < 100; i++) {
      const segment = encodePath(randomText(rng)).slice(0, 300);
      const url = pick(rng, [
        `/v1/models/${segment}`,
        `/v2/models/${segment}`,
        `/v2/models/${segment}/ready`,
        `/${segment}`,
        `/v1/models?${segment}`,
        `/v2/health/ready?x=${segment}`,
        `/v1/models/%E0%A4%A`,
      ]);
      const response = await app.inject({ method: pick(rng, ['GET', 'GET', 'DELETE', 'PUT', 'HEAD']), url });
      assert.ok(response.statusCode < 500, `${url}: ${response.statusCode} ${response.body}`);
    }
  });
});
