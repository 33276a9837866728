// Web mode answers only its own pages. A page on another 127.0.0.1 port is the same "site" (a site ignores the
// port), so the browser sends it the SameSite=Strict token cookie; what stops it is the Origin, Host, content
// type and Sec-Fetch-Site checks. Tried with raw requests, and in Chromium from a real second server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { hasChromium, launchChromium } from '../helpers/browser';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { rawRequest } from '../server/http';

let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let server: RunningServer;
let imageId: number;

const auth = () => ({ authorization: `Bearer ${server.token}` });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  rawRequest(server.url, { path, body: JSON.stringify(body), headers: { ...auth(), 'content-type': 'application/json', ...headers } });
const categoryNames = async () => ((await backend.dispatch('categories.list', {})) as { name: string }[]).map((c) => c.name);
const addMask = async () =>
  ((await backend.dispatch('annotations.add', { imageId, categoryId: null, mask: toCocoRle(encode(rectMask(30, 40, 2, 2, 9, 9), 30, 40), true) })) as { id: number }).id;
const annotationIds = async () => ((await backend.dispatch('annotations.list', { imageId })) as { id: number }[]).map((a) => a.id);

/** Outcome of a WebSocket handshake: 'open', or the HTTP status it was refused with. */
const wsOutcome = (headers: Record<string, string>) =>
  new Promise<string>((ok) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { ...auth(), ...headers } });
    ws.on('open', () => (ws.close(), ok('open')));
    ws.on('unexpected-response', (_req, res) => ok(String(res.statusCode)));
    ws.on('error', (e) => ok(`error ${e.message}`));
  });

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(join(dir.path, 'images'), 1, () => [40, 30]);
  const ui = join(dir.path, 'ui');
  mkdirSync(ui);
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>DiffLabel</title>');
  backend = new Backend({ shell: 'web' });
  backend.openProject(join(dir.path, 'images'));
  await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
  imageId = ((await backend.dispatch('images.list', {})) as { items: { id: number }[] }).items[0]!.id;
  server = await startServer({ backend, port: 0, staticDir: ui });
});
afterAll(async () => {
  await server.close();
  await backend.close();
  dir.cleanup();
});

describe('web mode refuses what its own pages never send', () => {
  it('refuses an Origin other than its own with 403 forbidden, and does nothing', async () => {
    const p = server.port;
    for (const origin of [`http://127.0.0.1:${p + 1}`, `http://localhost:${p + 1}`, 'http://evil.example', `https://127.0.0.1:${p}`, 'null', `http://127.0.0.1:${p}.evil.example`]) {
      const r = await post('/api/categories.add', { name: `from ${origin}` }, { origin });
      expect({ origin, status: r.status, code: r.json().error.code }).toEqual({ origin, status: 403, code: 'forbidden' });
    }
    expect(await categoryNames()).toEqual([]);
  });

  it('accepts its own origins: 127.0.0.1, localhost and [::1] with its port', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const r = await post('/api/categories.add', { name: host }, { origin: `http://${host}:${server.port}`, host: `${host}:${server.port}` });
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
    expect(await categoryNames()).toEqual(expect.arrayContaining(['127.0.0.1', 'localhost', '[::1]']));
  });

  it('refuses a Host that is not a loopback name with its port (DNS rebinding), for the API, the page and images', async () => {
    const p = server.port;
    for (const host of [`evil.example:${p}`, `127.0.0.1:${p + 1}`, 'localhost', `localhost.evil.example:${p}`, `user@127.0.0.1:${p}`]) {
      const r = await post('/api/categories.add', { name: 'rebound' }, { host });
      expect({ host, status: r.status, code: r.json().error.code }).toEqual({ host, status: 403, code: 'forbidden' });
      for (const path of ['/', `/images/${imageId}`]) {
        const g = await rawRequest(server.url, { method: 'GET', path, headers: { ...auth(), host } });
        expect({ host, path, status: g.status }).toEqual({ host, path, status: 403 });
      }
    }
    expect(await categoryNames()).not.toContain('rebound');
  });

  it('takes API calls only as application/json (a form or a text/plain fetch cannot send it without a preflight)', async () => {
    const id = await addMask();
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      const r = await post('/api/annotations.delete', { id }, { 'content-type': type });
      expect({ type, status: r.status, code: r.json().error.code }).toEqual({ type, status: 415, code: 'unsupported_media_type' });
    }
    const r = await rawRequest(server.url, { path: '/api/annotations.delete', body: JSON.stringify({ id }), headers: auth() });
    expect(r.status).toBe(415);
    expect(await annotationIds()).toContain(id);
    expect((await post('/api/annotations.delete', { id }, { 'content-type': 'Application/JSON; charset=utf-8' })).status).toBe(200);
    expect(await annotationIds()).not.toContain(id);
  });

  it('never answers a CORS preflight positively', async () => {
    const r = await rawRequest(server.url, {
      method: 'OPTIONS',
      path: '/api/annotations.delete',
      headers: { origin: `http://127.0.0.1:${server.port + 1}`, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses images and thumbnails embedded by a page of another site or port (Sec-Fetch-Site), but not navigation to them', async () => {
    const embedded = { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' };
    for (const site of ['same-site', 'cross-site']) {
      for (const path of [`/images/${imageId}`, `/thumbs/${imageId}`]) {
        const r = await rawRequest(server.url, { method: 'GET', path, headers: { ...auth(), ...embedded, 'sec-fetch-site': site } });
        expect({ site, path, status: r.status }).toEqual({ site, path, status: 403 });
      }
    }
    const own = await rawRequest(server.url, { method: 'GET', path: `/images/${imageId}`, headers: { ...auth(), ...embedded, 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(200);
    const opened = await rawRequest(server.url, { method: 'GET', path: `/images/${imageId}`, headers: { ...auth(), 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' } });
    expect(opened.status).toBe(200);
  });

  it('checks Origin and Host on the WebSocket upgrade', async () => {
    expect(await wsOutcome({ origin: `http://127.0.0.1:${server.port + 1}` })).toBe('403');
    expect(await wsOutcome({ origin: 'http://evil.example' })).toBe('403');
    expect(await wsOutcome({ host: `evil.example:${server.port}` })).toBe('403');
    expect(await wsOutcome({ origin: `http://localhost:${server.port}`, host: `localhost:${server.port}` })).toBe('open');
    expect(await wsOutcome({})).toBe('open');
  });
});

describe.skipIf(!hasChromium)('a page on another 127.0.0.1 port, in Chromium, holding the session cookie', () => {
  let attacker: Server;
  let attackerUrl: string;

  beforeAll(async () => {
    // What the page tries: the requests a browser lets any page send without asking the target first.
    attacker = createServer((_req, res) => {
      const target = server.url;
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><script>
        window.outcome = (async () => {
          const out = {};
          const body = JSON.stringify({ id: Number(location.hash.slice(1)) });
          await fetch('${target}/api/annotations.delete', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }).catch(() => {});
          out.json = await fetch('${target}/api/coco.export', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' })
            .then((r) => 'read ' + r.status, () => 'blocked');
          out.ws = await new Promise((ok) => {
            const ws = new WebSocket('${target.replace('http', 'ws')}/ws');
            ws.onopen = () => ok('open');
            ws.onerror = () => ok('refused');
          });
          out.img = await new Promise((ok) => {
            const img = new Image();
            img.onload = () => ok('loaded ' + img.naturalWidth + 'x' + img.naturalHeight);
            img.onerror = () => ok('refused');
            img.src = '${target}/images/${imageId}';
          });
          return out;
        })();
      </script>`);
    });
    await new Promise<void>((ok) => attacker.listen(0, '127.0.0.1', ok));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((ok) => attacker.close(() => ok())));

  it('cannot delete a mask, read the database, listen to events, or show an image', async () => {
    const id = await addMask();
    const browser = await launchChromium();
    let outcome: unknown;
    try {
      const page = await browser.newPage();
      expect((await page.goto(server.openUrl))?.status()).toBe(200); // the browser now holds the cookie
      await page.goto(`${attackerUrl}#${id}`);
      outcome = await page.evaluate(() => (window as unknown as { outcome: Promise<unknown> }).outcome);
    } finally {
      await browser.close();
    }
    expect({ ...(outcome as object), maskKept: (await annotationIds()).includes(id) }).toEqual({ json: 'blocked', ws: 'refused', img: 'refused', maskKept: true });
  });
});
