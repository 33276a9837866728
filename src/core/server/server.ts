// Web mode: the contract over HTTP (POST /api/<method>) and WebSocket (/ws, events), plus the built UI,
// thumbnails and images, on 127.0.0.1. Every request needs the session token: a Bearer header, a ?token=
// query, or the cookie set when the page is first opened with ?token=. And it must come from the server's own
// page (origin.ts): other pages on this machine get the cookie too.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, httpStatusOf, publicError } from '../api/errors';
import type { Backend } from '../api/backend';
import { decodeUrlPart, loadAsset } from './assets';
import { hasUnreadBody, readJsonBody } from './body';
import { hostName, networkAddresses, originRefusal, serverHostNames } from './origin';
import { CONTENT_SECURITY_POLICY } from '../../shared/csp';

export interface ServerOptions {
  backend: Backend;
  host?: string;
  port?: number;
  token?: string;
  /** Folder with the built renderer (index.html). */
  staticDir?: string;
}

export interface RunningServer {
  url: string;
  /** The URL to open in a browser: carries the token once, then a cookie does. */
  openUrl: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const COOKIE = 'difflabel_token';
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const tokenBuf = Buffer.from(token);
  const host = opts.host ?? '127.0.0.1';
  const backend = opts.backend;
  const hostNames = serverHostNames(host, networkAddresses());
  let port = 0; // known once listening

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    const candidates = [
      url.searchParams.get('token'),
      /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1],
      parseCookies(req.headers.cookie)[COOKIE],
    ];
    return candidates.some((c) => {
      if (!c) return false;
      const b = Buffer.from(c);
      return b.length === tokenBuf.length && timingSafeEqual(b, tokenBuf);
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => sendError(req, res, e));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = originRefusal(req.headers, hostNames, port);
    if (refusal) throw new ApiError('forbidden', refusal);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!authorised(req, url)) throw new ApiError('unauthorized', 'missing or wrong session token');
    const path = url.pathname;
    if (path.startsWith('/api/')) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new ApiError('method_not_allowed', `API methods are called with POST, not ${req.method}`);
      }
      // A page of another origin can send a form or a text/plain fetch without asking first; JSON needs a
      // CORS preflight, which this server never grants.
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') throw new ApiError('unsupported_media_type', `API calls must be sent as application/json, not ${JSON.stringify(type || null)}`);
      const method = decodeUrlPart(path.slice(5));
      const input = await readJsonBody(req, method);
      const result = await backend.dispatch(method, input);
      sendJson(res, 200, { result: result ?? null });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new ApiError('method_not_allowed', `${req.method} is not allowed here; use GET`);
    }
    const asset = await loadAsset(backend.project, opts.staticDir, path);
    const headers: Record<string, string> = {
      'content-type': asset.contentType,
      'x-content-type-options': 'nosniff',
      'cache-control': asset.isPage ? 'no-cache' : 'private, max-age=60',
    };
    if (asset.isPage) {
      headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
      // The first visit carries ?token=; from then on the browser sends the cookie for assets, images and /ws.
      if (url.searchParams.has('token')) headers['set-cookie'] = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    }
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : asset.data);
  }

  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refusal = originRefusal(req.headers, hostNames, port);
    const error = refusal
      ? new ApiError('forbidden', refusal)
      : url.pathname !== '/ws'
        ? new ApiError('not_found', 'WebSocket connections go to /ws')
        : !authorised(req, url)
          ? new ApiError('unauthorized', 'missing or wrong session token')
          : null;
    if (error) {
      const body = JSON.stringify({ error: error.toBody() });
      const status = httpStatusOf[error.code];
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
    });
  });
  const unsubscribe = backend.onEvent((event, payload) => {
    const msg = JSON.stringify({ event, payload });
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(msg);
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => ok());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${hostName(host)}:${port}`;
  return {
    url,
    openUrl: `${url}/?token=${token}`,
    token,
    port,
    close: async () => {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      // A page's keep-alive or unfinished requests would hold close() open; the server is going away.
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The body is made before anything is written, so a value that cannot be sent still gets a whole answer. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (e) {
    status = 500;
    text = JSON.stringify({ error: publicError(e).toBody() });
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(text);
}

function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  const err = publicError(e);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Answered before its body was read (refused, or too large): close rather than read the rest.
  if (hasUnreadBody(req)) res.setHeader('connection', 'close');
  sendJson(res, httpStatusOf[err.code], { error: err.toBody() });
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
