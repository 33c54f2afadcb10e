import { appendFileSync } from 'node:fs';

// A progress bar on stderr (redrawn in place on a terminal, a line every few seconds otherwise) and a
// JSON-lines log of every update.
export class Progress {
  private readonly started = performance.now();
  private lastLine = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly stage: string,
    private readonly total: number,
    private readonly startStep: number,
    private readonly logFile: string | undefined,
    private readonly quiet = false,
  ) {}

  // Reports step `step` (1-based count of steps done) with named figures.
  update(step: number, figures: Record<string, number>): void {
    const now = performance.now();
    const done = step - this.startStep;
    const elapsedS = (now - this.started) / 1000;
    const rate = done > 0 ? done / elapsedS : 0;
    const leftS = rate > 0 ? (this.total - step) / rate : Number.NaN;
    if (this.logFile) {
      appendFileSync(
        this.logFile,
        `${JSON.stringify({ time: new Date().toISOString(), stage: this.stage, step, total: this.total, stepsPerSecond: rate, ...figures })}\n`,
      );
    }
    if (this.quiet) return;
    const finished = step >= this.total;
    if (!finished && now - this.lastLine < (this.tty ? 250 : 10_000)) return;
    this.lastLine = now;
    const width = 24;
    const filled = Math.round((width * step) / Math.max(1, this.total));
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const shown = Object.entries(figures)
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
      .join('  ');
    const line = `[${this.stage}] ${bar} ${step}/${this.total}  ${shown}  ${rate.toFixed(2)} steps/s  left ${formatDuration(leftS)}`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}${finished ? '\n' : ''}` : `${line}\n`);
  }

  // A one-off message on its own line (and in the log).
  note(message: string, figures: Record<string, unknown> = {}): void {
    if (this.logFile) {
      appendFileSync(
        this.logFile,
        `${JSON.stringify({ time: new Date().toISOString(), stage: this.stage, message, ...figures })}\n`,
      );
    }
    if (!this.quiet) process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}[${this.stage}] ${message}\n`);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
