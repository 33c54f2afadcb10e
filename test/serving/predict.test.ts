import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestBudget } from '../../serving/budget.ts';
import {
  admit,
  boundInput,
  boundTexts,
  choosePoint,
  pinnedPoint,
  planBudget,
  runOnPoint,
  softmaxOutputs,
  tokenizeTexts,
} from '../../serving/predict.ts';
import { ServingError } from '../../serving/serving-error.ts';
import { isSupernetError } from '../../src/errors.ts';
import {
  fixtureFolder,
  LARGEST_POINT,
  LONG_TEXT,
  onlyHost,
  readyApp,
  SMALLEST_POINT,
  testConfig,
} from './fixture.ts';

// A request's budget with nothing set but `set`.
function budget(set: Partial<RequestBudget>): RequestBudget {
  return {
    latencyMs: undefined,
    memoryMb: undefined,
    minAccuracy: undefined,
    mode: undefined,
    subnetId: undefined,
    ...set,
  };
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ServingError || isSupernetError(error), String(error));
    assert.equal((error as { code: string }).code, code);
    return true;
  });
}

// Each stage of the request path on its own, over the real fixture model.
describe('request stages', () => {
  it('bounds the input: texts, their count and their length', () => {
    const config = testConfig('/nowhere', { MAX_TEXTS: '2', MAX_CHARS_PER_TEXT: '10' });
    boundInput(['short', 'also short'], config);
    assertCode(() => boundInput([], config), 'INVALID_REQUEST');
    assertCode(() => boundInput(['a', 'b', 'c'], config), 'TOO_MANY_TEXTS');
    boundTexts(['short', { text: 'ten chars.', textPair: 'also short' }], config);
    assertCode(() => boundTexts(['a', 'eleven char'], config), 'TEXT_TOO_LONG');
    assertCode(() => boundTexts([{ text: 'a', textPair: 'eleven char' }], config), 'TEXT_TOO_LONG');
  });

  it('fills in the budget defaults and the deadline', () => {
    const config = testConfig('/nowhere', { DEFAULT_LATENCY_BUDGET_MS: '40', DEFAULT_BUDGET_MODE: 'strict' });
    const plan = planBudget(budget({ memoryMb: 2 }), 1000, config);
    assert.deepEqual(plan, {
      latencyMs: 40,
      memoryMb: 2,
      memoryBytes: 2 * 1024 * 1024,
      minAccuracy: undefined,
      mode: 'strict',
      deadline: 1040,
    });
    const open = planBudget(budget({ mode: 'best-effort' }), 1000, testConfig('/nowhere'));
    assert.equal(open.latencyMs, undefined);
    assert.equal(open.deadline, 1000 + testConfig('/nowhere').noBudgetDeadlineMs);
  });

  it('sheds a request only when the expected queue is longer than MAX_QUEUE_WAIT_MS', () => {
    const config = testConfig('/nowhere', { MAX_QUEUE_WAIT_MS: '100' });
    admit({ waitMs: 100, utilization: 1 }, config);
    assertCode(() => admit({ waitMs: 101, utilization: 0 }, config), 'OVERLOADED');
  });

  it('answers each row with the softmax of its logits and the top label', () => {
    const outputs = softmaxOutputs(Float32Array.of(0, Math.log(3), 2, 1), ['negative', 'positive'], 2);
    assert.equal(outputs[0]!.label, 'positive');
    assert.ok(Math.abs(outputs[0]!.score - 0.75) < 1e-6);
    assert.ok(Math.abs(outputs[0]!.scores.negative! - 0.25) < 1e-6);
    assert.equal(outputs[1]!.label, 'negative');
    assert.ok(Math.abs(outputs[1]!.scores.negative! + outputs[1]!.scores.positive! - 1) < 1e-9);
  });

  it('tokenizes once, selects, runs the chosen point and keeps its logits', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const config = testConfig(modelRoot);
    const model = onlyHost(await readyApp(t, config)).model!;
    const tokenized = tokenizeTexts(model, [LONG_TEXT, 'Dull.'], config);
    assert.equal(tokenized.pieces.length, 2);
    assert.equal(tokenized.longest, 128);
    assert.equal((tokenized.pieces[1] as Int32Array).length + 2, 4);

    assert.equal(pinnedPoint(model, undefined), undefined);
    const pinned = pinnedPoint(model, SMALLEST_POINT)!;
    assertCode(() => pinnedPoint(model, '9h9f9-t9'), 'UNKNOWN_SUBNET');

    const plan = planBudget(budget({}), 0, config);
    const idle = { waitMs: 0, utilization: 0 };
    const best = choosePoint(model, tokenized, plan, idle, 0, undefined);
    assert.equal(best.point.id, LARGEST_POINT);
    assert.equal(best.tokens, 128);
    const small = choosePoint(model, tokenized, plan, idle, 0, pinned);
    assert.equal(small.point.id, SMALLEST_POINT);
    assert.equal(small.tokens, 16);
    const strict = planBudget(budget({ latencyMs: 0.001, mode: 'strict' }), 0, config);
    assertCode(() => choosePoint(model, tokenized, strict, idle, 0, undefined), 'BUDGET_UNSATISFIABLE');

    // Rows cut to the chosen tokens give the logits the same texts get alone, cut by the tokenizer.
    const outcome = await runOnPoint(model, tokenized, small, plan.deadline);
    assert.equal(outcome.logits.length, 2 * model.labels.length);
    const direct = model.tokenizer.encodeBatch([LONG_TEXT, 'Dull.'], {
      maxTokens: 16,
      truncation: model.manifest.tokenizer.truncation,
    });
    const alone = await model.pool.run(0, small.point.subnetIndex, direct);
    assert.deepEqual(outcome.logits, alone);
  });
});
