import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { CHROMIUM_PATH, launchChromium } from '../../../scripts/launch-chromium.ts';
import { formatMs } from '../../../serving/page/client/format.ts';
import {
  FIXTURE_MODEL,
  FIXTURE_POINTS,
  fixtureFolder,
  int8FixtureFolder,
  LARGEST_POINT,
  LONG_TEXT,
  readyApp,
  testConfig,
} from '../fixture.ts';

// biome-ignore lint/suspicious/noExplicitAny: API answers are compared field by field
type Json = any;

// What code run in the page reads of the browser (the tests compile without the DOM library).
declare const getComputedStyle: (
  element: unknown,
) => Record<'fill' | 'stroke' | 'backgroundColor' | 'borderTopWidth' | 'borderTopColor', string>;
declare const document: { activeElement: unknown };

// The page in a real browser (Debian's Chromium driven by playwright-core) against the real app on HTTP.
describe('the page in Chromium', () => {
  it('plots the catalog, sends a review under the budget set, and shows what the API answered', async (t) => {
    if (!hasChromium(t)) return;
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const catalog: Json = await (await fetch(`${base}/v1/models/${FIXTURE_MODEL}`)).json();

    const { page, errors } = await openPage(t);

    const loaded = await page.goto(`${base}/`);
    assert.equal(loaded?.status(), 200);
    assert.match(loaded?.headers()['content-security-policy'] ?? '', /script-src 'self'/);

    // One mark per operating point of the catalog.
    const marks = page.locator('#plot .point');
    await marks.first().waitFor();
    const ids = await marks.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-point-id')));
    assert.deepEqual(ids.sort(), catalog.catalog.map((p: Json) => p.id).sort());
    assert.equal(await page.locator('#model').inputValue(), FIXTURE_MODEL);

    // The live panel has read /metrics once: what follows counts from there.
    await page.locator('#live-status').filter({ hasText: 'updated' }).waitFor();

    // A person types a review, moves the latency budget to its lowest and sends.
    await page.locator('#text').pressSequentially('What a wonderful, moving film; the acting is great. ');
    await page.locator('#text').fill(LONG_TEXT);
    await page.locator('#latency').focus();
    await page.keyboard.press('Home');
    const lowest = Math.min(...catalog.catalog.map((p: Json) => p.calibratedLatencyMs)) / 2;
    assert.equal(await page.locator('#latency-out').textContent(), formatMs(lowest));
    const tight = await sendAndRead(page);
    assert.equal(Number(tight.request.headers()['latency-budget-ms']).toFixed(3), lowest.toFixed(3));
    // Below every point's latency, best effort serves the closest fit (a cheap point: which one depends on the
    // spread each point showed on this host), never the full model.
    assert.notEqual(tight.body.subnet.id, LARGEST_POINT);
    await assertShown(page, tight);

    // The budget at its top (no budget): the most accurate point.
    await page.locator('#latency').focus();
    await page.keyboard.press('End');
    assert.equal(await page.locator('#latency-out').textContent(), 'none');
    const loose = await sendAndRead(page);
    assert.equal(loose.request.headers()['latency-budget-ms'], undefined);
    assert.equal(loose.body.subnet.id, LARGEST_POINT);
    await assertShown(page, loose);

    assert.equal(errors.length, 0, errors.join('\n'));

    // Strict, below every point: the API's problem is shown with its code (Chromium logs the refused request
    // itself as a console error: the one error allowed, and only when the API refused).
    await page.locator('#latency').focus();
    await page.keyboard.press('Home');
    await page.locator('input[name="mode"][value="strict"]').check();
    const strict = await sendAndRead(page);
    assert.equal(strict.request.headers()['budget-mode'], 'strict');
    if (strict.status === 200) await assertShown(page, strict);
    else {
      assert.equal(await page.locator('#answer-problem-code').textContent(), strict.body.code);
      const refused = `Failed to load resource: the server responded with a status of ${strict.status}`;
      assert.ok(errors[0]?.includes(refused), errors[0]);
      errors.shift();
    }

    // The live panel reads /metrics: both points served show up, with a request rate.
    await page.locator(`#served li[data-point-id="${LARGEST_POINT}"]`).waitFor();
    await page.locator(`#served li[data-point-id="${tight.body.subnet.id}"]`).waitFor();
    await page.locator('#live-rps').filter({ hasNotText: '–' }).waitFor();

    assert.deepEqual(errors, []);
  });
  it('draws int8 points apart from their fp32 twins, with a legend entry and a toggle per precision', async (t) => {
    if (!hasChromium(t)) return;
    const app = await readyApp(t, testConfig(await int8FixtureFolder(t)));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const catalog: Json = await (await fetch(`${base}/v1/models/${FIXTURE_MODEL}`)).json();
    const precisionOf = new Map<string, string>(catalog.catalog.map((p: Json) => [p.id, p.config.precision]));
    const points = FIXTURE_POINTS.length;
    assert.equal(precisionOf.size, 2 * points);

    const { page, errors } = await openPage(t);
    await page.goto(`${base}/`);
    await page.locator('#plot .point').first().waitFor();

    // Every point is drawn in its precision: its shape, fill and stroke as the browser renders them.
    const marks = await page.locator('#plot .point').evaluateAll((groups) =>
      groups.map((g) => {
        const mark = g.querySelector('.mark');
        const style = mark === null ? undefined : getComputedStyle(mark);
        return {
          id: g.getAttribute('data-point-id') ?? '',
          precision: g.getAttribute('data-precision'),
          shape: mark?.tagName,
          fill: style?.fill,
          stroke: style?.stroke,
          title: g.querySelector('title')?.textContent ?? '',
        };
      }),
    );
    assert.equal(marks.length, 2 * points);
    for (const mark of marks) {
      assert.equal(mark.precision, precisionOf.get(mark.id), mark.id);
      assert.equal(mark.title.split('\n')[0], `${mark.id} (${mark.precision})`);
    }
    const fp32 = marks.filter((m) => m.precision === 'fp32');
    const int8 = marks.filter((m) => m.precision === 'int8');
    assert.equal(fp32.length, points);
    assert.equal(int8.length, points);
    // fp32: filled circles; int8: hollow diamonds, outlined in another colour. One look per precision, and the
    // two told apart by shape and fill, not by colour alone.
    const looks = (ms: typeof marks) => [...new Set(ms.map((m) => `${m.shape} ${m.fill} ${m.stroke}`))];
    assert.equal(looks(fp32).length, 1, looks(fp32).join(' | '));
    assert.equal(looks(int8).length, 1, looks(int8).join(' | '));
    assert.equal(fp32[0]!.shape, 'circle');
    assert.notEqual(fp32[0]!.fill, 'none');
    assert.equal(int8[0]!.shape, 'path');
    assert.equal(int8[0]!.fill, 'none');
    assert.notEqual(int8[0]!.stroke, 'none');
    assert.notEqual(int8[0]!.stroke, fp32[0]!.fill);
    // An int8 point's tooltip says what it saves against its twin.
    for (const mark of int8) assert.match(mark.title, /against its fp32 twin: [\d.]+ MiB less memory/);

    // The legend: one entry per precision, its swatch drawn as the marks are, with the count of points.
    const legend = await page.locator('#legend li.precision').evaluateAll((items) =>
      items.map((li) => {
        const swatch = getComputedStyle(li.querySelector('.swatch')!);
        return {
          precision: li.getAttribute('data-precision'),
          text: li.textContent,
          background: swatch.backgroundColor,
          border: swatch.borderTopWidth === '0px' ? 'none' : swatch.borderTopColor,
        };
      }),
    );
    assert.deepEqual(
      legend.map((l) => [l.precision, l.text]),
      [
        ['fp32', `fp32 points (${points})`],
        ['int8', `int8 points (${points})`],
      ],
    );
    assert.equal(legend[0]!.background, fp32[0]!.fill);
    assert.equal(legend[1]!.background, 'rgba(0, 0, 0, 0)');
    assert.equal(legend[1]!.border, int8[0]!.stroke);

    // The int8 toggle, from the keyboard, hides the int8 points and their line; the axes stay, and the toggle
    // keeps its focus when the plot is redrawn (here by a budget moved).
    const int8Toggle = page.locator('#legend input[data-precision="int8"]');
    await int8Toggle.focus();
    await page.keyboard.press('Space');
    assert.equal(await int8Toggle.isChecked(), false);
    assert.equal(await page.locator('#plot .point.int8').count(), 0);
    assert.equal(await page.locator('#plot .point.fp32').count(), points);
    assert.equal(await page.locator('#plot .front.int8').count(), 0);
    assert.match(
      (await page.locator('#plot svg').getAttribute('aria-label')) ?? '',
      /^5 operating points \(5 fp32\)/,
    );
    await page
      .locator('#latency')
      .evaluate((input: { value: string; max: string; dispatchEvent(e: Event): boolean }) => {
        input.value = String(Number(input.max) - 1);
        input.dispatchEvent(new Event('input'));
      });
    assert.equal(await int8Toggle.evaluate((input) => input === document.activeElement), true);
    assert.equal(await page.locator('#plot .point.int8').count(), 0);
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#plot .point.int8').count(), points);

    // With fp32 hidden, the fp32 point the server chose is still drawn, ringed, and alone of its precision.
    await page.locator('#legend input[data-precision="fp32"]').uncheck();
    assert.equal(await page.locator('#plot .point.fp32').count(), 0);
    await page.locator('#text').fill(LONG_TEXT);
    await page.locator('#latency').focus();
    await page.keyboard.press('End');
    const loose = await sendAndRead(page);
    assert.equal(loose.body.subnet.id, LARGEST_POINT);
    assert.deepEqual(
      await page.locator('#plot .point.fp32').evaluateAll((gs) => gs.map((g) => g.getAttribute('class'))),
      ['point fp32 chosen'],
    );
    assert.equal(await page.locator('#plot .point.int8').count(), points);

    assert.deepEqual(errors, []);
  });
});

// Whether Debian's Chromium is here to run the page in; skips the test when not (fails it on CI).
// A new page in a Chromium closed after the test, and the errors its console and scripts report.
async function openPage(t: TestContext): Promise<{ page: Page; errors: string[] }> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
  return { page, errors };
}

function hasChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  // CI installs Chromium (.ci/run): there a missing browser is a failure, never a silent pass.
  if (process.env.CI === 'true')
    assert.fail(`${CHROMIUM_PATH} is missing: .ci/run installs Debian's chromium`);
  t.skip(`${CHROMIUM_PATH} is missing (apt-get install -y chromium)`);
  return false;
}

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof launchChromium>>['context']['newPage']>>;

// Clicks Send and returns the request the page made and the API's answer to it.
async function sendAndRead(page: Page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/predict') && r.request().method() === 'POST'),
    page.locator('#send').click(),
  ]);
  const body: Json = await response.json();
  // The answer is drawn after the response arrives: wait until the page shows this one.
  await page.locator('#send').and(page.locator(':enabled')).waitFor();
  return {
    request: response.request(),
    status: response.status(),
    body,
    serverTiming: response.headers()['server-timing'] ?? '',
  };
}

// The label, point, budget verdict and Server-Timing shown are the API's, and the plot rings the point chosen.
async function assertShown(page: Page, sent: Awaited<ReturnType<typeof sendAndRead>>): Promise<void> {
  const { body } = sent;
  assert.equal(await page.locator('#answer-point').textContent(), body.subnet.id);
  assert.equal(await page.locator('#answer-label').textContent(), body.outputs[0].label);
  assert.equal(await page.locator('#answer-budget').getAttribute('data-met'), String(body.budget.met));
  const chosen = page.locator('#plot .point.chosen');
  assert.equal(await chosen.count(), 1);
  assert.equal(await chosen.getAttribute('data-point-id'), body.subnet.id);
  const total = Number(/total;dur=([\d.]+)/.exec(sent.serverTiming)?.[1]);
  assert.ok(Number.isFinite(total), sent.serverTiming);
  assert.match(
    (await page.locator('#answer-timing').textContent()) ?? '',
    new RegExp(`total ${formatMs(total)}`),
  );
}
