import { parseArgs } from 'node:util';
import { z } from 'zod';
import { oneLine } from './zod-one-line.ts';

export const USAGE = `usage: npm run loadtest -- [--url URL | --supernet DIR | --fixture] [--quick] [--out DIR] [--soak MINUTES]
    [--capacity RPS] [--budgets TIGHT,MEDIUM,LOOSE] [--loads 0.25,0.5,...] [--duration SECONDS] [--model NAME]
    [--seed N] [--png] [--fairness [--models HEAVY,LIGHT]]

  --url URL         load an already running server (only 127.0.0.1 or localhost); otherwise the harness starts
                    one: node --import tsx serving/server.ts, on the bundled repository models/
  --supernet DIR    serve this supernet (a repository, a model root holding LATEST, or a URI; SUPERNET_URI
                    does the same)
  --fixture         serve a random-weight supernet of a realistic shape (scripts/make-fixture-supernet.ts)
  --quick           about a minute: shorter runs, loads 0.25, 0.5, 0.8, 1.5 x capacity
  --out DIR         where report.json, report.html and server.log go (default runs/loadtest)
  --soak MINUTES    then hold 70% of capacity that long and record the server's memory
  --capacity RPS    skip the capacity search and take this figure
  --budgets T,M,L   the tight, medium and loose latency budgets in ms, instead of deriving them from the
                    host's calibration (to compare servers or settings at the same budgets)
  --loads LIST      offered loads as fractions of capacity
  --duration S      seconds per run
  --png             also render report.html to report.png with headless Chromium (when installed)
  --fairness        two models on one server instead: the light one's budgeted traffic alone, then beside the
                    heavy one flooded at 4x its capacity; writes DIR/fairness.json; exit 1 when the light
                    model's attainment falls more than a point
  --models H,L      the flooded (heavy) and the light model for --fairness (default: the first two listed)

Environment variables of the server (ENGINE, INFERENCE_WORKERS, LOG_LEVEL, ...) pass through to it.`;

const loadList = z
  .string()
  .regex(/^\d*\.?\d+(,\d*\.?\d+)*$/, { message: 'a comma-separated list of positive numbers' })
  .transform((s) => s.split(',').map(Number))
  .pipe(z.array(z.number().positive().max(20)).min(1).max(20));

export const LoadTestArgsSchema = z
  .object({
    url: z
      .url()
      .refine((u) => /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(u), {
        message: 'only a server on this machine (127.0.0.1, localhost)',
      })
      .optional(),
    supernet: z.string().min(1).optional(),
    fixture: z.boolean().default(false),
    quick: z.boolean().default(false),
    out: z.string().min(1).default('runs/loadtest'),
    soak: z.coerce
      .number()
      .positive()
      .max(24 * 60)
      .optional(),
    capacity: z.coerce.number().positive().max(1_000_000).optional(),
    loads: loadList.optional(),
    budgets: z
      .string()
      .regex(/^\d*\.?\d+,\d*\.?\d+,\d*\.?\d+$/, {
        message: 'three comma-separated budgets in ms: tight,medium,loose',
      })
      .transform((s) => s.split(',').map(Number) as [number, number, number])
      .refine(([t, m, l]) => t > 0 && t <= m && m <= l && l <= 60_000, {
        message: 'budgets must be positive, at most 60000 ms, and ordered tight <= medium <= loose',
      })
      .optional(),
    duration: z.coerce.number().int().min(1).max(3600).optional(),
    model: z.string().min(1).max(128).optional(),
    seed: z.coerce.number().int().nonnegative().default(1),
    png: z.boolean().default(false),
    fairness: z.boolean().default(false),
    models: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*,[a-z0-9][a-z0-9-]*$/, { message: 'two model names: HEAVY,LIGHT' })
      .transform((s) => s.split(','))
      .refine(([a, b]) => a !== b, { message: 'two different models' })
      .optional(),
  })
  .strict()
  .refine((a) => [a.url !== undefined, a.supernet !== undefined, a.fixture].filter(Boolean).length <= 1, {
    message: '--url, --supernet and --fixture exclude each other',
  });
export type LoadTestArgs = z.output<typeof LoadTestArgsSchema>;

// Thrown for a bad command line (the CLI prints it with the usage and exits 2).
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

// The command line, parsed in this one place.
export function parseLoadTestArgs(argv: readonly string[]): LoadTestArgs {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        supernet: { type: 'string' },
        fixture: { type: 'boolean' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        soak: { type: 'string' },
        capacity: { type: 'string' },
        loads: { type: 'string' },
        budgets: { type: 'string' },
        duration: { type: 'string' },
        model: { type: 'string' },
        seed: { type: 'string' },
        png: { type: 'boolean' },
        fairness: { type: 'boolean' },
        models: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // node's own messages run on with advice over more lines: the first says what is wrong.
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
  const parsed = LoadTestArgsSchema.safeParse(values);
  if (!parsed.success) {
    // One line, each problem named by its option.
    throw new UsageError(oneLine(parsed.error, '--'));
  }
  return parsed.data;
}
