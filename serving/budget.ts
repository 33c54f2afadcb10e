import { z } from 'zod';
import { ServingError } from './serving-error.ts';

const MAX_LATENCY_MS = 3_600_000;
const MAX_MEMORY_MB = 10_000_000;

// A number as any client's formatting writes one (250, 6.3, 6.300000000000001, 1e-7, 1.0E-7, +5), at most
// MAX_NUMBER_CHARS long; no hex, Infinity or NaN. Ranges are checked after.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const MAX_NUMBER_CHARS = 32;

// One header's value, refusing one sent more than once: Node joins repeated headers with ", " (inject may give
// an array), which no budget value holds.
const singleHeader = (name: string) =>
  z.preprocess(
    (value) => (Array.isArray(value) ? value.join(', ') : value),
    z
      .string()
      .trim()
      .refine((value) => !value.includes(', '), {
        message: `${name} was sent more than once; send it once`,
        abort: true,
      }),
  );

const decimalHeader = (name: string, check: z.ZodNumber) =>
  singleHeader(name)
    .refine((value) => value.length <= MAX_NUMBER_CHARS && DECIMAL.test(value), {
      message: `${name} must be a decimal number such as 250 or 6.3 (at most ${MAX_NUMBER_CHARS} characters)`,
      abort: true,
    })
    .transform(Number)
    .pipe(check);

const latencyMs = z
  .number()
  .positive({ message: 'a latency budget must be above 0 ms' })
  .max(MAX_LATENCY_MS, { message: `a latency budget must be at most ${MAX_LATENCY_MS} ms` });
const memoryMb = z
  .number()
  .positive({ message: 'a memory budget must be above 0 MiB' })
  .max(MAX_MEMORY_MB, { message: `a memory budget must be at most ${MAX_MEMORY_MB} MiB` });
const minAccuracy = z
  .number()
  .min(0, { message: 'an accuracy floor must be from 0 to 1' })
  .max(1, { message: 'an accuracy floor must be from 0 to 1' });
const mode = z.enum(['best-effort', 'strict']);
// Operating point ids are [0-9a-z.] plus the `-t{tokens}` suffix.
const SUBNET_ID = /^[0-9a-z.-]+$/;
const SUBNET_ID_MESSAGE = 'a subnet id holds only 0-9, a-z, "." and "-"';
const subnetId = z.string().trim().min(1).max(600).regex(SUBNET_ID, { message: SUBNET_ID_MESSAGE });

// The budget headers (lowercase, as Node gives them); other headers pass through untouched.
export const BudgetHeadersSchema = z.looseObject({
  'latency-budget-ms': decimalHeader('Latency-Budget-Ms', latencyMs)
    .optional()
    .describe('The most server-side time, in milliseconds, from receiving the request to answering it'),
  'memory-budget-mb': decimalHeader('Memory-Budget-Mb', memoryMb)
    .optional()
    .describe('The most memory, in MiB, the chosen subnet may use for this request (weights + activations)'),
  'min-accuracy': decimalHeader('Min-Accuracy', minAccuracy)
    .optional()
    .describe('The least dev accuracy (0 to 1) the chosen subnet must have'),
  'budget-mode': singleHeader('Budget-Mode')
    .transform((value) => value.toLowerCase())
    .pipe(mode)
    .optional()
    .describe('best-effort (default): serve the closest fit and say so; strict: refuse instead'),
  'subnet-id': singleHeader('Subnet-Id')
    .pipe(z.string().min(1).max(600).regex(SUBNET_ID, { message: SUBNET_ID_MESSAGE }))
    .optional()
    .describe('Pin one operating point of the catalog'),
});
export type BudgetHeaders = z.output<typeof BudgetHeadersSchema>;

// The same budgets in a request body's `parameters`.
export const BudgetParametersSchema = z
  .object({
    latency_budget_ms: latencyMs.optional(),
    memory_budget_mb: memoryMb.optional(),
    min_accuracy: minAccuracy.optional(),
    budget_mode: mode.optional(),
    subnet_id: subnetId.optional(),
  })
  .strict();
export type BudgetParameters = z.output<typeof BudgetParametersSchema>;

// A request's budget, from headers and parameters together; unset parts are undefined.
export interface RequestBudget {
  latencyMs: number | undefined;
  memoryMb: number | undefined;
  minAccuracy: number | undefined;
  mode: 'best-effort' | 'strict' | undefined;
  subnetId: string | undefined;
}

// Merges header and parameter budgets. A budget given both ways must agree: different values are a 400
// (CONFLICTING_BUDGET) rather than a silent choice of one.
export function mergeBudget(headers: BudgetHeaders, parameters: BudgetParameters | undefined): RequestBudget {
  const pick = <T>(header: T | undefined, parameter: T | undefined, name: string): T | undefined => {
    if (header !== undefined && parameter !== undefined && header !== parameter) {
      throw new ServingError(
        'CONFLICTING_BUDGET',
        `header ${name} (${String(header)}) and parameter ${toParameterName(name)} (${String(parameter)}) disagree; give one, or the same value`,
      );
    }
    return header ?? parameter;
  };
  return {
    latencyMs: pick(headers['latency-budget-ms'], parameters?.latency_budget_ms, 'Latency-Budget-Ms'),
    memoryMb: pick(headers['memory-budget-mb'], parameters?.memory_budget_mb, 'Memory-Budget-Mb'),
    minAccuracy: pick(headers['min-accuracy'], parameters?.min_accuracy, 'Min-Accuracy'),
    mode: pick(headers['budget-mode'], parameters?.budget_mode, 'Budget-Mode'),
    subnetId: pick(headers['subnet-id'], parameters?.subnet_id, 'Subnet-Id'),
  };
}

function toParameterName(header: string): string {
  const names: Record<string, string> = {
    'Latency-Budget-Ms': 'latency_budget_ms',
    'Memory-Budget-Mb': 'memory_budget_mb',
    'Min-Accuracy': 'min_accuracy',
    'Budget-Mode': 'budget_mode',
    'Subnet-Id': 'subnet_id',
  };
  return names[header] ?? header;
}
