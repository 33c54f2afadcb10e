import type { z } from 'zod';

// A zod error as one line, for CLIs and startup errors: each problem named by where it is (`label` turns a path
// into a name: an option, a variable), joined by '; '. z.prettifyError spreads one problem over two lines.
export function describeIssues(
  error: z.ZodError,
  label: (path: readonly PropertyKey[]) => string = (path) => path.map(String).join('.'),
): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${label(issue.path)}: ${issue.message}` : issue.message))
    .join('; ');
}
