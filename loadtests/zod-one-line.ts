import type { z } from 'zod';

// A zod error as one line ('; ' between problems, each prefixed by `prefix` and its path). The load tests' own
// copy of src/describe-issues.ts, since they import nothing but what talks HTTP.
export function oneLine(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${prefix}${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}
