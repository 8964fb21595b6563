/**
 * The dashboard (docs/server.md): `GET /` and its script and style, served to anyone (they hold
 * no data), and `GET admin/overview`, the data it shows, behind the admin token like every admin
 * route. The page fetches it with the token the person typed in; nothing secret is in a URL.
 */
import { readFile } from 'node:fs/promises';
import type { Exchange, Route } from '../context.ts';
import { readOverview } from '../dashboard/overview.ts';
import { sendJson } from '../http.ts';

const FILES_DIR = new URL('../dashboard/', import.meta.url);

/**
 * Only this server's own script and style run, so a task id or payload that slipped past the
 * page's escaping could not run script or load anything.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function servePageFile(file: string, contentType: string) {
  return async ({ req, res }: Exchange): Promise<void> => {
    const bytes = await readFile(new URL(file, FILES_DIR));
    res.writeHead(200, {
      ...PAGE_HEADERS,
      'content-type': contentType,
      'content-length': bytes.length,
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
}

/** Paths outside `/api/`, matched against the path without its leading `/`. */
export const PAGE_ROUTES: readonly Route[] = [
  {
    methods: ['GET', 'HEAD'],
    pattern: /^(?:|dashboard)$/,
    kind: 'page',
    handle: servePageFile('page.html', 'text/html; charset=utf-8'),
  },
  {
    methods: ['GET', 'HEAD'],
    pattern: /^dashboard\.js$/,
    kind: 'page',
    handle: servePageFile('dashboard.js', 'text/javascript; charset=utf-8'),
  },
  {
    methods: ['GET', 'HEAD'],
    pattern: /^dashboard\.css$/,
    kind: 'page',
    handle: servePageFile('dashboard.css', 'text/css; charset=utf-8'),
  },
];

export const DASHBOARD_ROUTES: readonly Route[] = [
  {
    methods: ['GET'],
    pattern: /^admin\/overview$/,
    kind: 'admin',
    handle: async ({ res, server }) => {
      const workers = server.workersSeen.list();
      sendJson(res, 200, await readOverview(server.db, workers, server.releasesDir, Date.now()));
    },
  },
];
