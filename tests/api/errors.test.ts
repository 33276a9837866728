// Every kind of error web mode answers: its HTTP status, its `error.code`, and a message, always as a complete
// JSON body. Unexpected failures say nothing about their cause to the client; the server logs it, once.
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rawRequest, type RawRequest } from '../server/http';

let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let server: RunningServer;
/** A second server whose back end never opens a project. */
let bare: { backend: Backend; server: RunningServer };

const send = (s: RunningServer, r: Partial<RawRequest> & { method?: string }) =>
  rawRequest(s.url, {
    path: '/api/app.info',
    ...r,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', ...r.headers },
  });
const call = (method: string, input: unknown, s = server) => send(s, { path: `/api/${method}`, body: JSON.stringify(input) });

/** The status, the error code, and that the body is one JSON error with a message. */
async function expectError(res: Promise<Awaited<ReturnType<typeof rawRequest>>>, status: number, code: string): Promise<string> {
  const r = await res;
  expect({ status: r.status, type: r.headers['content-type'] }).toEqual({ status, type: 'application/json; charset=utf-8' });
  const body = r.json();
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  expect(body.error.message.length).toBeGreaterThan(5);
  return body.error.message;
}

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(join(dir.path, 'images'), 2, () => [40, 30]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(join(dir.path, 'images'));
  await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
  server = await startServer({ backend, port: 0 });
  const b = new Backend({ shell: 'web' });
  bare = { backend: b, server: await startServer({ backend: b, port: 0 }) };
});
afterAll(async () => {
  await server.close();
  await backend.close();
  await bare.server.close();
  await bare.backend.close();
  dir.cleanup();
});
afterEach(() => vi.restoreAllMocks());

describe('API errors over HTTP', () => {
  it('bad_request (400): a payload that breaks the contract names the field', async () => {
    expect(await expectError(call('images.get', { id: 'one' }), 400, 'bad_request')).toMatch(/id/);
  });

  it('bad_request (400): a body that is not JSON', async () => {
    expect(await expectError(send(server, { body: '{"a":' }), 400, 'bad_request')).toMatch(/not valid JSON/);
  });

  it('bad_request (400): a method URL that cannot be decoded', async () => {
    expect(await expectError(send(server, { path: '/api/%E0%A4%A', body: '{}' }), 400, 'bad_request')).toMatch(/not valid percent-encoding/);
  });

  it('bad_request (400): coco.import of a document that is not an object, with the importer\'s message', async () => {
    expect(await expectError(call('coco.import', { document: [1, 2] }), 400, 'bad_request')).toMatch(/top level must be a JSON object/);
    expect(await expectError(call('coco.import', { document: 'text' }), 400, 'bad_request')).toMatch(/top level must be a JSON object/);
  });

  it('not_found (404): an unknown method', async () => {
    expect(await expectError(call('no.such.method', {}), 404, 'not_found')).toMatch(/unknown method "no\.such\.method"/);
  });

  it('not_found (404): an unknown id, and a store refusal of an id that does not exist', async () => {
    expect(await expectError(call('images.get', { id: 999 }), 404, 'not_found')).toMatch(/999/);
    const cat = (await call('categories.add', { name: 'kept' })).json().result;
    expect(await expectError(call('categories.merge', { from: cat.id, into: 999 }), 404, 'not_found')).toMatch(/category 999 does not exist/);
    // Nothing happened: the category is still there.
    expect((await call('categories.list', {})).json().result.map((c: { id: number }) => c.id)).toEqual([cat.id]);
  });

  it('no_project (409): a project method before any folder is open', async () => {
    expect(await expectError(call('images.list', {}, bare.server), 409, 'no_project')).toMatch(/no project is open/);
  });

  it('conflict (409): a category name that is taken', async () => {
    await call('categories.add', { name: 'taken' });
    expect(await expectError(call('categories.add', { name: 'taken' }), 409, 'conflict')).toMatch(/taken/);
  });

  it('unavailable (503): another process holds the project\'s write lock past the busy timeout; nothing is saved', async () => {
    const other = new Database(join(dir.path, 'images', '.difflabel', 'project.sqlite'));
    other.exec('BEGIN IMMEDIATE');
    try {
      expect(await expectError(call('categories.add', { name: 'while locked' }), 503, 'unavailable')).toMatch(/busy in another process.*not saved/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(backend.project!.getCategoryByName('while locked')).toBeUndefined();
  });

  it('project_refused (422): a folder whose project database is not a database', async () => {
    const folder = join(dir.path, 'corrupt');
    await makeImageFolder(folder, 1);
    const b = new Backend({ shell: 'web' });
    b.openProject(folder);
    await b.close();
    writeFileSync(join(folder, '.difflabel', 'project.sqlite'), 'this is not SQLite '.repeat(500));
    expect(await expectError(call('project.open', { folder }, bare.server), 422, 'project_refused')).toMatch(/project/i);
    expect((await call('app.info', {}, bare.server)).json().result.project).toBeNull();
  });

  it('forbidden (403): a request from a page of another origin', async () => {
    const other = `http://127.0.0.1:${server.port + 1}`;
    expect(await expectError(send(server, { body: '{}', headers: { origin: other } }), 403, 'forbidden')).toMatch(/origin/i);
  });

  it('too_large (413): a body over the method\'s limit', async () => {
    const body = JSON.stringify({ label: 'x'.repeat(20 * 2 ** 20) });
    expect(await expectError(send(server, { path: '/api/annotations.delete', body }), 413, 'too_large')).toMatch(/bytes/);
  });

  it('unsupported_media_type (415): a body not declared as JSON', async () => {
    expect(await expectError(send(server, { body: '{}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type')).toMatch(/application\/json/);
  });

  it('method_not_allowed (405): GET on an API method', async () => {
    const r = send(server, { method: 'GET' });
    expect(await expectError(r, 405, 'method_not_allowed')).toMatch(/POST/);
    expect((await r).headers.allow).toBe('POST');
  });

  it('unauthorized (401): no session token', async () => {
    const r = rawRequest(server.url, { path: '/api/app.info', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(await expectError(r, 401, 'unauthorized')).toMatch(/token/);
  });

  it('internal (500): an unexpected failure answers a generic message; the detail is logged once on the server', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(backend, 'dispatch').mockRejectedValueOnce(new TypeError('secret detail /home/someone/.config'));
    const message = await expectError(call('app.info', {}), 500, 'internal');
    expect(message).not.toMatch(/secret|home|TypeError|\bat /);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0]!.map(String).join(' ')).toMatch(/secret detail/);
  });

  it('internal (500): a result that cannot be written as JSON still gets a complete JSON error', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(backend, 'dispatch').mockResolvedValueOnce({ big: 10n });
    await expectError(call('app.info', {}), 500, 'internal');
    // And the server goes on serving.
    expect((await call('app.info', {})).json().result.shell).toBe('web');
  });
});
