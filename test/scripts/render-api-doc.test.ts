import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { API_DOC, openApiDocument, renderRoutes, withGeneratedBlock } from '../../scripts/render-api-doc.ts';

// docs/api.md's route reference is generated from the server's OpenAPI document: a route, parameter or body
// field changed without `npm run docs:api` fails here.
describe('the route reference in docs/api.md', () => {
  it('is what the server generates now', async () => {
    const doc = await openApiDocument();
    const rendered = renderRoutes(doc);
    for (const route of [
      'POST /v1/models/{model}/predict',
      'POST /models/{model}',
      'POST /predict',
      'GET /info',
    ]) {
      assert.match(rendered, new RegExp(`### \`${route.replace(/[{}/]/g, '\\$&')}\``), route);
    }
    const committed = await readFile(API_DOC, 'utf8');
    assert.equal(
      withGeneratedBlock(committed, rendered),
      committed,
      'docs/api.md is out of date: npm run docs:api',
    );
  });

  it('keeps the hand-written parts and refuses a file without the markers', () => {
    const page = 'intro\n<!-- GENERATED: routes (npm run docs:api) -->\nold\n<!-- END GENERATED -->\noutro\n';
    assert.equal(
      withGeneratedBlock(page, 'new'),
      'intro\n<!-- GENERATED: routes (npm run docs:api) -->\n\nnew\n\n<!-- END GENERATED -->\noutro\n',
    );
    assert.throws(() => withGeneratedBlock('no markers', 'x'), /missing the/);
  });
});
