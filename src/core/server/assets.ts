// What both shells serve besides the API: the built UI, thumbnails and original images. Web mode puts it
// on HTTP; Electron on its difflabel:// protocol. Paths: /thumbs/<id>, /images/<id>, anything else = UI file.
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { ApiError } from '../api/errors';
import type { ProjectStore } from '../project';
import { readThumbnail } from '../project';

export interface Asset {
  contentType: string;
  data: Buffer;
  /** True for the UI's HTML entry (gets the CSP header and, in web mode, the token cookie). */
  isPage: boolean;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};
const IMAGE_MIME: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  bmp: 'image/bmp',
};

export async function loadAsset(store: ProjectStore | null, staticDir: string | undefined, pathname: string): Promise<Asset> {
  const m = /^\/(thumbs|images)\/(\d+)$/.exec(pathname);
  if (m) {
    if (!store) throw new ApiError('no_project', 'no project is open');
    const img = store.getImage(Number(m[2]));
    if (!img) throw new ApiError('not_found', `no image ${m[2]}`);
    if (m[1] === 'thumbs') return { contentType: 'image/webp', data: await readThumbnail(store, img.id), isPage: false };
    const data = await readFile(join(store.folder, img.path)).catch(() => {
      throw new ApiError('not_found', `image file is gone: ${img.path}`);
    });
    return { contentType: IMAGE_MIME[img.format ?? ''] ?? 'application/octet-stream', data, isPage: false };
  }
  if (!staticDir) throw new ApiError('not_found', 'no UI is served (build it with npm run build)');
  const root = resolve(staticDir);
  let file = normalize(join(root, decodeURIComponent(pathname)));
  if (file !== root && !file.startsWith(root + sep)) throw new ApiError('not_found', 'not found');
  const st = await stat(file).catch(() => null);
  // Unknown paths get the app itself, so reloading any in-app URL works.
  if (!st || st.isDirectory()) file = join(root, 'index.html');
  const data = await readFile(file).catch(() => null);
  if (!data) throw new ApiError('not_found', `not found: ${pathname}`);
  const ext = extname(file);
  return { contentType: MIME[ext] ?? 'application/octet-stream', data, isPage: ext === '.html' };
}
