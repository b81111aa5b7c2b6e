// The web pages: the meeting page at `/` and the admin console at `/admin`, built by Vite from web/
// into dist/web (`npm run build:web`, run by `npm ci`/`npm install` and before `npm test`), and
// served from there by this process: no separate server, no CDN. The meeting page reads its app
// credentials from /config.json (CONVENE_WEB_APP): see docs/operations.md#the-web-pages.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { HttpDeps } from './server.ts';

/** Where `npm run build:web` writes the pages (vite.config.ts). */
export const WEB_DIST = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const WEB_PAGES: Record<string, string> = { '/': 'index.html', '/admin': 'admin/index.html' };
export const WEB_CONFIG_PATH = '/config.json';

// Same-origin scripts only; the realtime socket is on this origin; the camera preview is a local stream.
const CSP = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const WebConfig = Type.Object({
  app: Type.Union(
    [
      Type.Object({
        appId: Type.String(),
        customerId: Type.String(),
        customerSecret: Type.String({ description: 'the Agora customer secret: a client-side credential (docs/operations.md#the-web-pages)' }),
      }),
      Type.Null(),
    ],
    { description: 'the app the meeting page enters meetings of; null with CONVENE_WEB_APP=off (the page then asks for credentials)' },
  ),
});

export async function registerWeb(app: FastifyInstance, deps: Pick<HttpDeps, 'apps'> & { webAppId?: string }): Promise<void> {
  // Built files have content-hashed names: cached for good. Not in the OpenAPI document (like /docs assets).
  await app.register(fastifyStatic, { root: `${WEB_DIST}assets`, serve: false });
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: { hide: true } }, (req, reply) => {
    const { file } = req.params;
    if (!/^[\w.-]+\.(js|css)$/.test(file)) return reply.code(404).send({ error: 'not found' });
    return reply.sendFile(file, { immutable: true, maxAge: '365d' });
  });

  const pages = new Map<string, Promise<string | null>>();
  const page = (file: string) => {
    let p = pages.get(file);
    if (!p) {
      p = readFile(`${WEB_DIST}${file}`, 'utf8').catch(() => null);
      // A page missing now (not built yet) is looked for again on the next request.
      p.then((text) => text === null && pages.delete(file));
      pages.set(file, p);
    }
    return p;
  };
  const sendPage = async (file: string, reply: FastifyReply) => {
    const html = await page(file);
    reply.header('cache-control', 'no-cache').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff');
    if (html === null) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The web pages are not built: run `npm run build:web` (npm ci and npm install run it), then reload.\n');
    }
    return reply.type('text/html; charset=utf-8').send(html);
  };

  const html = (summary: string) => ({
    summary,
    response: {
      200: { description: 'the page', content: { 'text/html': { schema: Type.String() } } },
      503: { description: 'the pages are not built (npm run build:web)', content: { 'text/plain': { schema: Type.String() } } },
    },
  });
  app.get('/', { schema: html('the meeting page: join, members, host controls, chat, whiteboard') }, (_req, reply) => sendPage(WEB_PAGES['/']!, reply));
  app.get('/admin', { schema: html('the admin console: apps, running rooms, kick, message, close (signed in the browser)') }, (_req, reply) =>
    sendPage(WEB_PAGES['/admin']!, reply),
  );

  app.get(
    WEB_CONFIG_PATH,
    { schema: { summary: "the meeting page's configuration: the app it uses", response: { 200: WebConfig } } },
    async (_req, reply) => {
      const a = deps.webAppId ? await deps.apps.get(deps.webAppId) : null;
      reply.header('cache-control', 'no-store');
      return { app: a ? { appId: a.appId, customerId: a.customerId, customerSecret: a.customerSecret } : null };
    },
  );
}
