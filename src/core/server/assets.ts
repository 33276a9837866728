// What both shells serve besides the API: the built UI, thumbnails and original images. Web mode puts it
// on HTTP; Electron on its difflabel:// protocol. Paths: /thumbs/<id>, /images/<id>, anything else = UI file.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { ApiError } from '../api/errors';
import type { ImageRow, ProjectStore } from '../project';
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
    if (img.status === 'error') throw new ApiError('conflict', `image ${img.path} could not be read: ${img.error}`);
    if (m[1] === 'thumbs') return { contentType: 'image/webp', data: await readThumbnail(store, img.id), isPage: false };
    return { contentType: IMAGE_MIME[img.format ?? ''] ?? 'application/octet-stream', data: await readIndexedImage(store, img), isPage: false };
  }
  if (!staticDir) throw new ApiError('not_found', 'no UI is served (build it with npm run build)');
  const root = resolve(staticDir);
  let file = normalize(join(root, decodeUrlPart(pathname)));
  if (file !== root && !file.startsWith(root + sep)) throw new ApiError('not_found', 'not found');
  const st = await stat(file).catch(() => null);
  // Unknown paths get the app itself, so reloading any in-app URL works.
  if (!st || st.isDirectory()) file = join(root, 'index.html');
  const data = await readFile(file).catch(() => null);
  if (!data) throw new ApiError('not_found', `not found: ${pathname}`);
  const ext = extname(file);
  return { contentType: MIME[ext] ?? 'application/octet-stream', data, isPage: ext === '.html' };
}

/** decodeURIComponent, with malformed percent-encoding answered as the caller's mistake (400), not a URIError. */
export function decodeUrlPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError('bad_request', `${JSON.stringify(part)} is not valid percent-encoding`);
  }
}

/**
 * The file of an indexed image, only while it is still that image: a regular file with the size and sha1 the index
 * recorded (hashing costs a few ms per image, far less than decoding it). A link put in place of an indexed file
 * (to /etc/passwd, say) is refused, not served; an image indexed through a link (a folder of links into a dataset
 * elsewhere) is served like any other.
 */
async function readIndexedImage(store: ProjectStore, img: ImageRow): Promise<Buffer> {
  const again = 'index the folder again';
  const gone = () => new ApiError('not_found', `${img.path} is gone; ${again}`);
  const file = await realpath(join(store.folder, img.path)).catch(() => {
    throw gone();
  });
  // The checks below are made on the opened file, so a swap after them cannot change what is read; a link
  // swapped in between realpath and open is not followed, and a folder swapped there fails the size and time.
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => {
    throw gone();
  });
  try {
    const st = await fh.stat();
    const changed = () => new ApiError('conflict', `${img.path} changed since it was indexed; ${again}`);
    if (!st.isFile() || st.size !== img.bytes) throw changed();
    const data = await fh.readFile();
    if (createHash('sha1').update(data).digest('hex') !== img.sha1) throw changed();
    return data;
  } finally {
    await fh.close();
  }
}
