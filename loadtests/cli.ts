// npm run loadtest -- [--url URL | --supernet DIR | --fixture] [--quick] [--out DIR] [--soak MINUTES] ...
// Exit codes: 0 the SLO target held, 1 it was missed, 2 bad command line, 3 the harness or the server failed.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatSummary } from './format-summary.ts';
import { parseLoadTestArgs, USAGE, UsageError } from './load-test-args.ts';
import { ProgressBar } from './progress-bar.ts';
import { renderReportPng } from './render-report-png.ts';
import { formatFairness, runFairness } from './run-fairness.ts';
import { runLoadTest } from './run-load-test.ts';

// Runs the load test from a command line; returns the exit code.
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  let args: ReturnType<typeof parseLoadTestArgs>;
  try {
    args = parseLoadTestArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const progress = new ProgressBar(1);
  if (args.fairness) return fairness(args, env, progress);
  try {
    const { report, jsonPath, htmlPath } = await runLoadTest(args, { env, progress });
    progress.finish();
    console.log(formatSummary(report));
    console.log(`\nreport: ${jsonPath}\n        ${htmlPath}`);
    if (args.png) {
      const png = join(htmlPath, '..', 'report.png');
      try {
        const rendered = await renderReportPng(htmlPath, png);
        console.log(rendered ? `        ${png}` : '(no Chromium installed: no PNG)');
      } catch (error) {
        console.error(`could not render the PNG: ${(error as Error).message}`);
      }
    }
    return report.slo.met ? 0 : 1;
  } catch (error) {
    progress.finish();
    console.error(`load test failed: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof Error && error.cause) console.error(error.cause);
    return 3;
  }
}

// The fairness test (--fairness): exit 0 when the light model kept its attainment, 1 when not, 3 on failure.
async function fairness(
  args: ReturnType<typeof parseLoadTestArgs>,
  env: Record<string, string | undefined>,
  progress: ProgressBar,
): Promise<number> {
  try {
    const { report, jsonPath } = await runFairness(args, { env, progress });
    progress.finish();
    console.log(formatFairness(report));
    console.log(`\nreport: ${jsonPath}`);
    return report.met ? 0 : 1;
  } catch (error) {
    progress.finish();
    console.error(`fairness test failed: ${error instanceof Error ? error.message : String(error)}`);
    return 3;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Exit through process.exit so that the 'exit' hook stops a spawned server.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  process.exitCode = await main(process.argv.slice(2), process.env);
}
