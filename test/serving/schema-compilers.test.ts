import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { BudgetHeadersSchema } from '../../serving/budget.ts';
import { serializerCompiler, validatorCompiler } from '../../serving/schema-compilers.ts';
import { ModelListSchema, PredictResponseSchema, ProblemSchema } from '../../serving/schemas.ts';

const route = { method: 'POST', url: '/v1/models/:model/predict' };

function validatorFor(schema: z.ZodType, httpPart: string) {
  return validatorCompiler({ schema, httpPart, ...route }) as (data: unknown) => {
    error?: unknown;
    value?: unknown;
  };
}

function serializerFor(schema: z.ZodType) {
  return serializerCompiler({ schema, httpStatus: '200', ...route }) as (data: unknown) => string;
}

const PREDICTION = {
  model: 'imdb-sentiment',
  version: '20261203T204416Z-ff52617c',
  subnet: {
    id: '0h1f128-t128-int8',
    config: { layers: [{ layer: 0, heads: 1, ffn: 128 }], tokens: 128, precision: 'int8' },
    params: 4_021_634,
    flops: 1_234_567,
    memoryBytes: 16_777_216,
    expectedLatencyMs: 0.42,
    accuracy: 0.8125,
  },
  budget: { latencyMs: 5, memoryMb: null, minAccuracy: null, mode: 'best-effort', met: true },
  outputs: [{ label: 'positive', score: 0.93, scores: { negative: 0.07, positive: 0.93 } }],
};

describe('request validation', () => {
  it('parses only the headers a route declares, laid over the ones received', () => {
    const validate = validatorFor(BudgetHeadersSchema, 'headers');
    const result = validate({
      host: '127.0.0.1:8080',
      'content-type': 'application/json',
      'latency-budget-ms': '5',
      'budget-mode': 'STRICT',
    });
    assert.equal(result.error, undefined);
    assert.deepEqual(result.value, { 'latency-budget-ms': 5, 'budget-mode': 'strict' });
  });

  it('leaves the received headers alone when none it declares was sent', () => {
    const validate = validatorFor(BudgetHeadersSchema, 'headers');
    const result = validate({ host: '127.0.0.1:8080', 'x-anything': 'not a number' });
    assert.ok('value' in result);
    assert.equal(result.value, undefined);
    assert.equal(result.error, undefined);
  });

  it('refuses a bad declared header, naming it', () => {
    const validate = validatorFor(BudgetHeadersSchema, 'headers');
    const result = validate({ host: 'h', 'latency-budget-ms': 'soon' });
    assert.ok(result.error, 'a non-numeric latency budget is refused');
    assert.match(JSON.stringify(result.error), /latency-budget-ms/);
  });

  it('validates bodies as zod does', () => {
    const validate = validatorFor(z.object({ inputs: z.array(z.string()).min(1) }).strict(), 'body');
    assert.deepEqual(validate({ inputs: ['a'] }).value, { inputs: ['a'] });
    assert.ok(validate({ inputs: [] }).error);
    assert.ok(validate({ inputs: ['a'], extra: 1 }).error);
  });
});

describe('answer serialization', () => {
  it('writes what JSON.stringify writes for an answer that fits its schema', () => {
    const json = serializerFor(PredictResponseSchema)(PREDICTION);
    assert.equal(json, JSON.stringify(PREDICTION));
    assert.deepEqual(PredictResponseSchema.parse(JSON.parse(json)), PREDICTION);
  });

  it('writes null and omits what is optional and absent', () => {
    const list = {
      models: [
        {
          name: 'a',
          ready: false,
          reason: 'loading',
          version: null,
          task: null,
          operatingPoints: null,
          loadedAt: null,
        },
        {
          name: 'b',
          ready: true,
          version: 'v1',
          task: { input: 'pair', labels: 3 },
          operatingPoints: 16,
          loadedAt: '2026-12-03T23:00:00.000Z',
        },
      ],
    };
    const json = serializerFor(ModelListSchema)(list);
    assert.deepEqual(JSON.parse(json), list);
  });

  it('keeps the extra members of a problem (a loose object)', () => {
    const problem = {
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'inputs must hold at least one text',
      code: 'INVALID_REQUEST',
      requestId: 'r-1',
      retryAfterS: 1,
    };
    assert.deepEqual(JSON.parse(serializerFor(ProblemSchema)(problem)), problem);
  });

  it('refuses at start-up a response schema JSON Schema cannot express, naming the route', () => {
    const schema = z.object({ at: z.date() });
    assert.throws(() => serializerFor(schema), /POST \/v1\/models\/:model\/predict/);
  });
});
