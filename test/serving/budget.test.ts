import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BudgetHeadersSchema, BudgetParametersSchema, mergeBudget } from '../../serving/budget.ts';
import { budgetMet } from '../../serving/predict.ts';
import { ServingError } from '../../serving/serving-error.ts';

describe('budget headers and parameters', () => {
  it('parses plain decimal headers and keeps other headers', () => {
    const headers = BudgetHeadersSchema.parse({
      'latency-budget-ms': ' 12.5 ',
      'memory-budget-mb': '64',
      'min-accuracy': '0.8',
      'budget-mode': 'STRICT',
      'subnet-id': '0h1f16-t16',
      host: 'x',
    });
    assert.deepEqual(mergeBudget(headers, undefined), {
      latencyMs: 12.5,
      memoryMb: 64,
      minAccuracy: 0.8,
      mode: 'strict',
      subnetId: '0h1f16-t16',
    });
    assert.equal(headers.host, 'x');
  });

  it('refuses signs, exponents, hex, Infinity, NaN, zero latency, accuracy above 1 and odd modes', () => {
    for (const [name, value] of [
      ['latency-budget-ms', '-5'],
      ['latency-budget-ms', '1e3'],
      ['latency-budget-ms', '0x10'],
      ['latency-budget-ms', 'Infinity'],
      ['latency-budget-ms', 'NaN'],
      ['latency-budget-ms', '0'],
      ['latency-budget-ms', '100, 200'],
      ['memory-budget-mb', ''],
      ['min-accuracy', '1.5'],
      ['budget-mode', 'lenient'],
      ['subnet-id', 'ABC'],
    ] as const) {
      assert.equal(BudgetHeadersSchema.safeParse({ [name]: value }).success, false, `${name}: ${value}`);
    }
  });

  it('takes parameters when there is no header, and a header and parameter that agree', () => {
    const params = BudgetParametersSchema.parse({ latency_budget_ms: 20, budget_mode: 'strict' });
    const headers = BudgetHeadersSchema.parse({ 'latency-budget-ms': '20' });
    assert.equal(mergeBudget(headers, params).latencyMs, 20);
    assert.equal(mergeBudget(headers, params).mode, 'strict');
  });

  it('refuses a header and a parameter that disagree (CONFLICTING_BUDGET)', () => {
    const headers = BudgetHeadersSchema.parse({ 'min-accuracy': '0.8' });
    assert.throws(
      () => mergeBudget(headers, { min_accuracy: 0.9 }),
      (e: unknown) => e instanceof ServingError && e.code === 'CONFLICTING_BUDGET',
    );
  });

  it('refuses unknown parameters', () => {
    assert.equal(BudgetParametersSchema.safeParse({ latencyBudgetMs: 5 }).success, false);
  });
});

describe('whether an answer met its budget', () => {
  const none = { latencyMs: undefined, memoryBytes: undefined, minAccuracy: undefined };
  const served = { totalMs: 4, memoryBytes: 1000, accuracy: 0.86 };

  it('judges latency on the measured time, whatever was predicted', () => {
    assert.equal(budgetMet({ ...none, latencyMs: 4 }, served), true);
    assert.equal(budgetMet({ ...none, latencyMs: 3.99 }, served), false);
    assert.equal(budgetMet(none, { ...served, totalMs: 1e6 }), true);
  });

  it("judges memory and the accuracy floor on the serving point's figures", () => {
    assert.equal(budgetMet({ ...none, memoryBytes: 1000, minAccuracy: 0.86 }, served), true);
    assert.equal(budgetMet({ ...none, memoryBytes: 999 }, served), false);
    assert.equal(budgetMet({ ...none, minAccuracy: 0.87 }, served), false);
    assert.equal(budgetMet({ latencyMs: 10, memoryBytes: 999, minAccuracy: 0.5 }, served), false);
  });
});
