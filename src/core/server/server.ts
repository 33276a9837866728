// Web mode: the contract over HTTP (POST /api/<method>) and WebSocket (/ws, events), plus the built UI,
// thumbnails and images, on 127.0.0.1. Every request needs the session token: a Bearer header, a ?token=
// query, or the cookie set when the page is first opened with ?token=.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, httpStatusOf } from '../api/errors';
import type { Backend } from '../api/backend';
import { loadAsset } from './assets';
import { CONTENT_SECURITY_POLICY } from '../../shared/csp';

export interface ServerOptions {
  backend: Backend;
  host?: string;
  port?: number;
  token?: string;
  /** Folder with the built renderer (index.html). */
  staticDir?: string;
  maxBodyBytes?: number;
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
  const maxBody = opts.maxBodyBytes ?? 512 * 1024 * 1024;
  const backend = opts.backend;

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
    handle(req, res).catch((e) => sendError(res, e));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!authorised(req, url)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'unauthorized', message: 'missing or wrong session token' }));
      return;
    }
    const path = url.pathname;
    if (path.startsWith('/api/')) {
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const body = await readBody(req, maxBody);
      let input: unknown;
      try {
        input = body.length ? JSON.parse(body.toString('utf8')) : {};
      } catch (e) {
        throw new ApiError('bad_request', `request body is not valid JSON: ${(e as Error).message}`);
      }
      const result = await backend.dispatch(decodeURIComponent(path.slice(5)), input);
      sendJson(res, 200, { result: result ?? null });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
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
    if (url.pathname !== '/ws' || !authorised(req, url)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
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
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  return {
    url,
    openUrl: `${url}/?token=${token}`,
    token,
    port,
    close: async () => {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e instanceof ApiError) {
    sendJson(res, httpStatusOf[e.code], { error: e.toBody() });
    return;
  }
  const err = e as Error & { status?: number };
  if (err.status === 413) {
    sendJson(res, 413, { error: { code: 'bad_request', message: err.message } });
    return;
  }
  console.error(e);
  sendJson(res, 500, { error: { code: 'internal', message: err?.message ?? String(e) } });
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        fail(Object.assign(new Error(`request body over ${limit} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
