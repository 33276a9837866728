import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { rawRequest } from './http';

let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let server: RunningServer;
let ui: string;

const call = (method: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${server.token}` }) =>
  fetch(`${server.url}/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(join(dir.path, 'images'), 4, () => [40, 30]);
  ui = join(dir.path, 'ui');
  mkdirSync(ui);
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>DiffLabel</title>');
  backend = new Backend({ shell: 'web' });
  server = await startServer({ backend, port: 0, staticDir: ui });
});
afterAll(async () => {
  await server.close();
  await backend.close();
  dir.cleanup();
});

describe('web mode', () => {
  it('binds loopback and prints a URL carrying a random token', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.token.length).toBeGreaterThanOrEqual(32);
    expect(server.openUrl).toBe(`${server.url}/?token=${server.token}`);
  });

  it('refuses every request without the token (401), the UI included', async () => {
    expect((await call('app.info', {}, {})).status).toBe(401);
    expect((await call('app.info', {}, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await fetch(`${server.url}/`)).status).toBe(401);
    expect((await fetch(`${server.url}/thumbs/1`)).status).toBe(401);
    expect((await fetch(`${server.url}/?token=${server.token.slice(1)}x`)).status).toBe(401);
  });

  it('answers a UI path that is not valid percent-encoding with 400, not 500', async () => {
    const r = await rawRequest(server.url, { method: 'GET', path: '/assets/%E0%A4%A', headers: { authorization: `Bearer ${server.token}` } });
    expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 400, code: 'bad_request' });
  });

  it('refuses the WebSocket without the token', async () => {
    const outcome = await new Promise<string>((ok) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      ws.on('open', () => ok('open'));
      ws.on('unexpected-response', (_req, res) => ok(String(res.statusCode)));
      ws.on('error', () => ok('error'));
    });
    expect(outcome).toBe('401');
  });

  it('opening the page with ?token sets an HttpOnly cookie that authorises later requests, with a strict CSP', async () => {
    const page = await fetch(server.openUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const cookie = page.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const r = await call('app.info', {}, { cookie: cookie.split(';')[0]! });
    expect(r.status).toBe(200);
    expect((await r.json()).result).toMatchObject({ shell: 'web', project: null });
  });

  it('answers a bad payload with 400 and a message, and changes nothing', async () => {
    let r = await call('project.open', { folder: 42 });
    expect(r.status).toBe(400);
    let body = await r.json();
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(/folder/);
    r = await call('project.open', '{not json');
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/not valid JSON/);
    r = await call('no.such.method', {});
    expect(r.status).toBe(404);
    r = await call('images.list', {});
    expect(r.status).toBe(409); // no project open yet
    expect((await (await call('app.info', {})).json()).result.project).toBeNull();
  });

  it('opens a project, indexes it as a job with progress events over the WebSocket, and serves thumbnails', async () => {
    const events: { event: string; payload: any }[] = [];
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { authorization: `Bearer ${server.token}` } });
    await new Promise((ok) => ws.on('open', ok));
    ws.on('message', (m) => events.push(JSON.parse(String(m))));

    expect((await call('project.open', { folder: join(dir.path, 'images') })).status).toBe(200);
    const { result } = await (await call('project.index', {})).json();
    await backend.jobs.wait(result.jobId);
    await new Promise((r) => setTimeout(r, 100));
    const finished = events.find((e) => e.event === 'job.finished');
    expect(finished?.payload).toMatchObject({ id: result.jobId, kind: 'index', state: 'done', result: { added: 4 } });
    expect(events.some((e) => e.event === 'job.progress' && e.payload.total === 4)).toBe(true);
    ws.close();

    const list = (await (await call('images.list', { limit: 10 })).json()).result;
    expect(list.total).toBe(4);
    const thumb = await fetch(`${server.url}/thumbs/${list.items[0].id}`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect((await fetch(`${server.url}/thumbs/99999`, { headers: { authorization: `Bearer ${server.token}` } })).status).toBe(404);
  });

  it('validates masks against their image and keeps valid edits', async () => {
    const list = (await (await call('images.list', { limit: 1 })).json()).result;
    const img = list.items[0];
    let r = await call('annotations.add', { imageId: img.id, categoryId: null, mask: { size: [img.height, img.width], counts: [1, 2] } });
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/counts|sum|total/i);
    r = await call('annotations.add', { imageId: img.id, categoryId: null, mask: toCocoRle(encode(rectMask(10, 10, 0, 0, 5, 5), 10, 10), false) });
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/does not match/);
    r = await call('annotations.add', { imageId: img.id, categoryId: 999, mask: toCocoRle(encode(rectMask(30, 40, 0, 0, 5, 5), 30, 40), false) });
    expect(r.status).toBe(404);
    expect((await r.json()).error).toMatchObject({ code: 'not_found', message: 'category 999 does not exist' });
    expect((await (await call('annotations.list', { imageId: img.id })).json()).result).toEqual([]);

    const cat = (await (await call('categories.add', { name: 'shape' })).json()).result;
    expect(cat.id).toBe(1);
    expect((await call('categories.add', { name: 'shape' })).status).toBe(409);
    r = await call('annotations.add', { imageId: img.id, categoryId: cat.id, mask: toCocoRle(encode(rectMask(30, 40, 2, 3, 12, 8), 30, 40), false) });
    expect(r.status).toBe(200);
    const ann = (await r.json()).result;
    expect(ann).toMatchObject({ area: 50, bbox: [2, 3, 10, 5], categoryId: cat.id, source: 'manual' });
    const after = (await (await call('images.get', { id: img.id })).json()).result;
    expect(after).toMatchObject({ status: 'in_progress', annotations: 1 });
  });
});
