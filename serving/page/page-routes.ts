import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ServingError } from '../serving-error.ts';
import { checkPageBuildable, type PageAsset, pageAssets } from './page-assets.ts';

// The page runs only its own script and stylesheet and talks only to this server: nothing inline, no eval,
// no plug-ins, no framing.
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Assets are named by their content hash: a new build has new names, so a browser may keep them forever.
const IMMUTABLE = 'public, max-age=31536000, immutable';

const AssetParamsSchema = z.object({ file: z.string().min(1).max(128) });

// GET / (the page) and GET /page/{file} (its script, stylesheet and icon). Throws at registration when the page
// cannot be built here, so that PAGE=on on a host without its sources fails at start, not on first load.
export function pageRoutes(): FastifyPluginAsyncZod {
  checkPageBuildable();
  return async (app) => {
    app.get('/', { schema: { hide: true } }, async (request, reply) =>
      sendAsset(request, reply, (await pageAssets()).index, 'no-cache'),
    );
    app.get('/page/:file', { schema: { hide: true, params: AssetParamsSchema } }, async (request, reply) => {
      const asset = (await pageAssets()).files.get(request.params.file);
      if (asset === undefined) {
        throw new ServingError('NOT_FOUND', `no page asset '${request.params.file}' (the page names them)`);
      }
      return sendAsset(request, reply, asset, IMMUTABLE);
    });
  };
}

// Answers with the asset, or 304 when the browser already holds this version.
function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: PageAsset, cacheControl: string) {
  reply
    .header('content-security-policy', PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cacheControl)
    .header('etag', asset.etag);
  if (matchesEtag(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}

// If-None-Match: `*` or a list of tags, weak ones (W/) compared weakly (RFC 9110, 13.1.2).
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}
