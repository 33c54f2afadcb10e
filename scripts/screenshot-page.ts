// Regenerates docs/page.png: the server on the bundled models (or SUPERNET_URI; the first one shown), the page in
// Debian's Chromium with a review sent under a latency budget, while a light, bounded load from this process
// (loopback only) keeps the live panel moving. Usage: npm run screenshot [-- <out.png>]
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { buildApp } from '../serving/app.ts';
import { loadConfig } from '../serving/config.ts';
import { launchChromium } from './launch-chromium.ts';

const OUT = resolve(process.argv[2] ?? 'docs/page.png');
const REVIEW =
  'A slow start, but the last hour is wonderful: the acting is superb, the score is haunting and the ending ' +
  'stayed with me for days.';
// The load: a few loops of requests with mixed budgets, for at most this long and this many requests.
const LOAD_MS = 15_000;
const LOAD_REQUESTS = 20_000;
const LOAD_LOOPS = 1;

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', PAGE: 'on', LOG_LEVEL: 'warn' });
const app = await buildApp({ config });
await app.listen({ port: 0, host: '127.0.0.1' });
await app.models.whenReady();
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const { models } = (await (await fetch(`${base}/v1/models`)).json()) as { models: Array<{ name: string }> };
const model = models[0]!.name;
const described = (await (await fetch(`${base}/v1/models/${model}`)).json()) as {
  catalog: Array<{ calibratedLatencyMs: number }>;
};
const latencies = described.catalog.map((p) => p.calibratedLatencyMs).sort((a, b) => a - b);

// Budgets from tight to loose, cycled: each fits a different part of the catalog.
const budgets = [latencies[0]! * 2, latencies[Math.floor(latencies.length / 2)]! * 3, 5, 10];
// Long reviews (a few hundred tokens), so that the points' input lengths matter as they do for real reviews.
const texts = [
  REVIEW,
  'Dull, predictable and far too long; the jokes land flat and the plot goes nowhere. ',
  'I laughed, I cried, and I would watch it again tomorrow: a small film with a big heart. ',
].map((t) => t.repeat(12));
let sent = 0;
const loadEnds = Date.now() + LOAD_MS;
async function loop(offset: number): Promise<void> {
  for (let i = offset; Date.now() < loadEnds && sent < LOAD_REQUESTS; i += LOAD_LOOPS) {
    sent++;
    const budget = budgets[i % budgets.length];
    await fetch(`${base}/v1/models/${model}/predict`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(budget === undefined ? {} : { 'latency-budget-ms': budget.toFixed(3) }),
      },
      body: JSON.stringify({ inputs: [texts[i % texts.length]] }),
    });
    await new Promise((done) => setTimeout(done, 15));
  }
}

const browser = await launchChromium({ width: 1440, height: 1000 });
try {
  const page = await browser.context.newPage();
  await page.goto(`${base}/`);
  await page.locator('#plot .point').first().waitFor();
  const load = Promise.all(Array.from({ length: LOAD_LOOPS }, (_, i) => loop(i)));
  await page.locator('#text').fill(REVIEW);
  // A budget between the cheap points and the full model.
  await page
    .locator('#latency')
    .evaluate((input: { value: string; max: string; dispatchEvent(e: Event): boolean }) => {
      input.value = String(Math.round(Number(input.max) * 0.55));
      input.dispatchEvent(new Event('input'));
    });
  await page.waitForTimeout(6000);
  await page.locator('#send').click();
  await page.locator('#answer-label').waitFor();
  await page.waitForTimeout(2500);
  await mkdir(dirname(OUT), { recursive: true });
  await page.screenshot({ path: OUT, fullPage: true });
  await load;
  console.log(`wrote ${OUT} (${sent} requests of background load)`);
} finally {
  await browser.close();
  await app.close();
}
