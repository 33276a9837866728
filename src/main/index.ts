// Electron main: the thin binding of the back end to a window. Everything it calls runs under plain Node
// too (web mode, CLI, tests); only windows, dialogs, IPC and the difflabel:// protocol live here.
import { BrowserWindow, app, dialog, ipcMain, protocol, session, shell } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backend } from '../core/api/backend';
import { ApiError, httpStatusOf, publicError } from '../core/api/errors';
import { loadAsset } from '../core/server/assets';
import { APP_URL_PREFIX, ipcSenderRefusal } from '../core/server/origin';
import { CONTENT_SECURITY_POLICY } from '../shared/csp';

const here = dirname(fileURLToPath(import.meta.url));
const rendererDir = join(here, '../renderer');

protocol.registerSchemesAsPrivileged([{ scheme: 'difflabel', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

let window: BrowserWindow | null = null;
const backend = new Backend({
  shell: 'electron',
  version: app.getVersion(),
  pickFolder: async () => {
    const r = await dialog.showOpenDialog(window!, { properties: ['openDirectory'] });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  },
  pickFile: async (extensions) => {
    const filters = extensions?.length ? [{ name: extensions.map((e) => `.${e}`).join(' '), extensions }] : [];
    const r = await dialog.showOpenDialog(window!, { properties: ['openFile'], filters });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  },
});

backend.onEvent((event, payload) => window?.webContents.send('difflabel:event', event, payload));

// One IPC channel; the method name is checked against the contract in `dispatch`. Only the app's own main
// frame may call (not an iframe, nor the window after it was navigated elsewhere).
ipcMain.handle('difflabel:call', async (e, method: unknown, input: unknown) => {
  const refusal = ipcSenderRefusal(e.senderFrame, window?.webContents.mainFrame);
  if (refusal) return { ok: false, error: new ApiError('forbidden', refusal).toBody() };
  try {
    return { ok: true, result: await backend.dispatch(String(method), input) };
  } catch (err) {
    return { ok: false, error: publicError(err).toBody() };
  }
});

async function createWindow(): Promise<void> {
  protocol.handle('difflabel', async (req) => {
    const url = new URL(req.url);
    try {
      const asset = await loadAsset(backend.project, rendererDir, url.pathname);
      const headers: Record<string, string> = { 'content-type': asset.contentType };
      if (asset.isPage) headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
      return new Response(new Uint8Array(asset.data), { headers });
    } catch (e) {
      const err = publicError(e);
      return new Response(err.message, { status: httpStatusOf[err.code] });
    }
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  window = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'DiffLabel',
    backgroundColor: '#15171c',
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  // Links leave the app for the system browser; the window itself never navigates away.
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:/.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.webContents.on('will-navigate', (e, url) => {
    if (!url.startsWith(APP_URL_PREFIX)) e.preventDefault();
  });
  await window.loadURL(`${APP_URL_PREFIX}index.html`);
}

const folderArg = process.argv.slice(app.isPackaged ? 1 : 2).find((a) => !a.startsWith('-'));

app.whenReady().then(async () => {
  if (folderArg) {
    try {
      backend.openProject(folderArg);
      await backend.dispatch('project.index', {});
    } catch (e) {
      dialog.showErrorBox('DiffLabel', (e as Error).message);
    }
  }
  await createWindow();
});

app.on('window-all-closed', () => app.quit());

// Every way out (last window closed, Ctrl-C in the terminal, SIGTERM) closes the project first: jobs are cancelled
// and the database is checkpointed. Signals after the first only wait for that.
let closed = false;
app.on('will-quit', (e) => {
  if (closed) return;
  e.preventDefault();
  void backend.close().finally(() => {
    closed = true;
    app.quit();
  });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => app.quit());
