// project.open with a typed path: `~` and `~/…` mean the home folder, as in a shell; anything else is taken as is.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Backend } from '../../src/core/api/backend';
import { makeImageFolder, tempDir } from '../helpers/folder';

let home: ReturnType<typeof tempDir>;
let backend: Backend;
const savedHome = process.env.HOME;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

beforeAll(async () => {
  home = tempDir();
  await makeImageFolder(join(home.path, 'photos'), 1);
  mkdirSync(join(home.path, '~literal'));
  process.env.HOME = home.path; // os.homedir() reads it on POSIX
  backend = new Backend({ shell: 'web' });
});
afterEach(() => {
  process.env.HOME = home.path;
});
afterAll(async () => {
  process.env.HOME = savedHome;
  await backend.close();
  home.cleanup();
});

describe.skipIf(process.platform === 'win32')('project.open and ~', () => {
  it('opens ~/photos in the home folder', async () => {
    const info = await call('project.open', { folder: '~/photos' });
    expect(info.folder).toBe(join(home.path, 'photos'));
    expect(backend.project!.folder).toBe(join(home.path, 'photos'));
  });

  it('opens ~ itself, with or without a trailing slash', async () => {
    expect((await call('project.open', { folder: '~' })).folder).toBe(home.path);
    expect((await call('project.open', { folder: '~/' })).folder).toBe(home.path);
  });

  it('leaves ~name (another user\'s home, not expanded) and a ~ inside a path alone', async () => {
    await expect(call('project.open', { folder: '~nobody/photos' })).rejects.toMatchObject({ code: 'project_refused', message: expect.stringMatching(/~nobody\/photos does not exist/) });
    expect((await call('project.open', { folder: join(home.path, '~literal') })).folder).toBe(join(home.path, '~literal'));
  });
});
