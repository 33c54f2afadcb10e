// A one-line progress bar on stderr: work done out of a total (in seconds of load, say), the current phase, the
// time elapsed and an estimate of the time left. On a terminal it redraws in place; otherwise it prints a line
// per `log` only (CI logs stay readable).
export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly startedAt = Date.now();
  private total: number;
  private done = 0;
  private label = '';
  private drawn = false;
  private lastDraw = 0;

  constructor(total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.total = Math.max(total, 1e-9);
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  // Changes the total (when the plan becomes known).
  setTotal(total: number): void {
    this.total = Math.max(total, 1e-9);
    this.draw(true);
  }

  update(done: number, label: string = this.label): void {
    this.done = Math.min(done, this.total);
    this.label = label;
    this.draw(false);
  }

  // Prints a line above the bar.
  log(line: string): void {
    this.clear();
    this.stream.write(`${line}\n`);
    this.draw(true);
  }

  finish(): void {
    this.clear();
  }

  private clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(force: boolean): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const fraction = this.done / this.total;
    const width = 28;
    const filled = Math.round(fraction * width);
    const elapsedS = (now - this.startedAt) / 1000;
    const leftS = fraction > 0.02 ? (elapsedS / fraction) * (1 - fraction) : undefined;
    const columns = this.stream.columns ?? 120;
    const line =
      `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${formatSeconds(elapsedS)}${leftS === undefined ? '' : ` (~${formatSeconds(leftS)} left)`} ${this.label}`;
    this.stream.write(`\r\x1b[K${line.slice(0, columns - 1)}`);
    this.drawn = true;
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
