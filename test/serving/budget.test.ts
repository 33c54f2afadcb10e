import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BudgetHeadersSchema, BudgetParametersSchema, mergeBudget } from '../../serving/budget.ts';
import { budgetMet } from '../../serving/predict.ts';
import { ServingError } from '../../serving/serving-error.ts';

describe('budget headers and parameters', () => {
  it('parses decimal headers and keeps other headers', () => {
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

  it('takes any decimal a client formats a number as, within 32 characters', () => {
    for (const [value, expected] of [
      ['6.300000000000001', 6.300000000000001],
      ['1e-7', 1e-7],
      ['1.0E-7', 1e-7],
      ['+5', 5],
      ['5.', 5],
      ['.5', 0.5],
      ['250', 250],
    ] as const) {
      const parsed = BudgetHeadersSchema.parse({ 'latency-budget-ms': value });
      assert.equal(parsed['latency-budget-ms'], expected, value);
    }
  });

  it('refuses hex, Infinity, NaN, over-long numbers, out-of-range values and odd modes, saying why', () => {
    const decimal = /must be a decimal number such as 250 or 6\.3 \(at most 32 characters\)/;
    for (const [name, value, message] of [
      ['latency-budget-ms', '-5', /a latency budget must be above 0 ms/],
      ['latency-budget-ms', '0', /a latency budget must be above 0 ms/],
      ['latency-budget-ms', '0x10', decimal],
      ['latency-budget-ms', 'Infinity', decimal],
      ['latency-budget-ms', 'NaN', decimal],
      ['latency-budget-ms', '6,3', decimal],
      ['latency-budget-ms', `1.${'0'.repeat(31)}`, decimal],
      ['memory-budget-mb', '', decimal],
      ['min-accuracy', '1.5', /an accuracy floor must be from 0 to 1/],
      ['budget-mode', 'lenient', /best-effort|strict/],
      ['subnet-id', 'ABC', /a subnet id holds only/],
    ] as const) {
      const parsed = BudgetHeadersSchema.safeParse({ [name]: value });
      assert.equal(parsed.success, false, `${name}: ${value}`);
      assert.match(parsed.error!.issues[0]!.message, message, `${name}: ${value}`);
    }
  });

  it('says a header was sent more than once (Node joins repeats with ", ")', () => {
    for (const [name, value, header] of [
      ['latency-budget-ms', '100, 200', 'Latency-Budget-Ms'],
      ['latency-budget-ms', ['100', '100'], 'Latency-Budget-Ms'],
      ['subnet-id', '0h1f16-t16, 0h1f16-t16', 'Subnet-Id'],
      ['budget-mode', 'strict, strict', 'Budget-Mode'],
      ['min-accuracy', '0.8, 0.9', 'Min-Accuracy'],
    ] as const) {
      const parsed = BudgetHeadersSchema.safeParse({ [name]: value });
      assert.equal(parsed.success, false, `${name}: ${value}`);
      assert.equal(parsed.error!.issues[0]!.message, `${header} was sent more than once; send it once`);
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
