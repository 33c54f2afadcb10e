import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../serving/config.ts';
import { PAGE_CSP } from '../../../serving/page/page-routes.ts';
import { fixtureFolder, readyApp, testConfig } from '../fixture.ts';

// The page's HTML, script, stylesheet and icon as fastify serves them (the browser test loads them for real).
describe('GET / (the page)', () => {
  it('serves the HTML with a strict CSP, revalidated, naming its assets by content hash', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    assert.equal(page.headers['content-security-policy'], PAGE_CSP);
    assert.match(PAGE_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(PAGE_CSP, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');

    // Nothing inline: every script has a src, no <style> element, no style attribute, no event handler.
    const html = page.body;
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
    const assets = [...html.matchAll(/(?:src|href)="(\/page\/[^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual([...new Set(assets.map((a) => a.replace(/\.[0-9a-f]{12}\./, '.HASH.')))].sort(), [
      '/page/app.HASH.js',
      '/page/icon.HASH.svg',
      '/page/page.HASH.css',
    ]);

    for (const url of new Set(assets)) {
      const asset = await app.inject({ method: 'GET', url });
      assert.equal(asset.statusCode, 200, url);
      assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
      const etag = asset.headers.etag as string;
      assert.match(etag, /^"[0-9a-f]{32}"$/);
      // The name carries the first 12 hex digits of the content hash the ETag carries.
      assert.ok(url.includes(`.${etag.slice(1, 13)}.`), `${url} vs ${etag}`);
      const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': `W/${etag}` } });
      assert.equal(again.statusCode, 304);
      assert.equal(again.body, '');
    }
    const script = await app.inject({ method: 'GET', url: assets.find((a) => a.endsWith('.js'))! });
    assert.match(script.headers['content-type'] as string, /^text\/javascript/);
    // The bundle calls the public API and evaluates no strings as code.
    assert.match(script.body, /\/v1\/models/);
    assert.doesNotMatch(script.body, /\beval\(|new Function\(/);

    const revalidated = await app.inject({
      method: 'GET',
      url: '/',
      headers: { 'if-none-match': `"other", ${page.headers.etag}` },
    });
    assert.equal(revalidated.statusCode, 304);
  });

  it('answers an unknown asset with a 404 problem', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const missing = await app.inject({ method: 'GET', url: '/page/app.000000000000.js' });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(missing.json().code, 'NOT_FOUND');
  });

  it('is off with PAGE=off, and off by default on Lambda', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { PAGE: 'off' }));
    for (const url of ['/', '/page/app.000000000000.js']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().code, 'NOT_FOUND');
    }
    assert.equal(loadConfig({}, 'lambda').page, false);
    assert.equal(loadConfig({ PAGE: 'on' }, 'lambda').page, true);
    assert.equal(loadConfig({}, 'server').page, true);
    assert.throws(() => loadConfig({ PAGE: 'yes' }), /PAGE="yes"/);
  });
});
