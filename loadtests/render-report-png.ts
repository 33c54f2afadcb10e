import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

// Renders report.html to a PNG with headless Chromium (the flags keep it off the network), to look at the page
// as a reader would. Returns false when no Chromium is installed.
export async function renderReportPng(
  htmlPath: string,
  pngPath: string,
  size: { width: number; height: number } = { width: 1360, height: 4200 },
): Promise<boolean> {
  const chromium = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (chromium === undefined) return false;
  const profile = await mkdtemp(join(tmpdir(), 'loadtest-chromium-'));
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--hide-scrollbars',
          `--user-data-dir=${profile}`,
          `--window-size=${size.width},${size.height}`,
          `--screenshot=${pngPath}`,
          pathToFileURL(htmlPath).href,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0 && existsSync(pngPath)) resolve();
        else reject(new Error(`chromium exited with ${code}: ${err.trim().slice(-400)}`));
      });
    });
    return true;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
