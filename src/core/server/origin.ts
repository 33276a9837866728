// Who may talk to the back end. Web mode: only pages it served itself. The token cookie is SameSite=Strict, but
// a "site" ignores the port, so a page on any other 127.0.0.1 port gets the cookie too; the Origin, Host and
// Sec-Fetch-Site headers, which a page cannot forge, tell such requests apart. Electron: only the main frame of
// the app's window. The decisions are pure functions, so both shells' rules are tested under plain Node.
import { networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/** How an address appears in a URL or a Host header: IPv6 in brackets, lower case. */
export function hostName(address: string): string {
  const a = address.toLowerCase();
  return a.includes(':') && !a.startsWith('[') ? `[${a}]` : a;
}

/** 0.0.0.0 or ::, which listen on every address of the machine. */
export function isWildcard(address: string): boolean {
  return WILDCARD.has(address);
}

export function isLoopback(address: string): boolean {
  const a = hostName(address);
  return LOOPBACK_NAMES.includes(a) || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/**
 * This machine's addresses other than loopback: what other machines use to reach a wildcard bind. IPv6
 * link-local ones (fe80::) are left out: a browser cannot open them without a zone.
 */
export function networkAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal && !/^fe80:/i.test(i.address))
    .map((i) => i!.address);
}

/**
 * The names a request may address the server by: the loopback names, the bound address, and for a wildcard
 * bind (0.0.0.0, ::) every address of the machine.
 */
export function serverHostNames(bindHost: string, addresses: string[]): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  if (isWildcard(bindHost)) for (const a of addresses) names.add(hostName(a));
  else names.add(hostName(bindHost));
  return names;
}

/** `name[:port]` of a Host header or an http origin; null for anything else (userinfo, paths, other schemes). */
function parseHost(value: string): { name: string; port: number } | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(value);
  return m ? { name: m[1]!.toLowerCase(), port: m[2] ? Number(m[2]) : 80 } : null;
}

export interface RequestOriginHeaders {
  host?: string;
  origin?: string;
  'sec-fetch-site'?: string;
  'sec-fetch-mode'?: string;
}

/**
 * Why a request does not come from one of the server's own pages (answered 403), or null when it may.
 * - Host must be one of `names` with the server's port: a DNS-rebound name reaches 127.0.0.1 with its own Host.
 * - Origin, when sent, must be `http://` + such a host: browsers send it on every cross-origin request and
 *   every POST, and on WebSocket handshakes.
 * - Sec-Fetch-Site same-site / cross-site on anything but a navigation: an <img> or <script> of another page,
 *   which carries no Origin (opening a link to the app from elsewhere is a navigation and still works).
 */
export function originRefusal(h: RequestOriginHeaders, names: ReadonlySet<string>, port: number): string | null {
  const ours = (v: string) => {
    const p = parseHost(v);
    return p !== null && p.port === port && names.has(p.name);
  };
  if (!h.host || !ours(h.host)) return `the Host header ${JSON.stringify(h.host ?? null)} is not this server's address (open the URL it printed)`;
  if (h.origin !== undefined && !(h.origin.startsWith('http://') && ours(h.origin.slice('http://'.length)))) {
    return `requests from pages of origin ${JSON.stringify(h.origin)} are refused: only DiffLabel's own page may call it`;
  }
  const site = h['sec-fetch-site'];
  if ((site === 'same-site' || site === 'cross-site') && h['sec-fetch-mode'] !== 'navigate') {
    return `requests made by pages of other sites (Sec-Fetch-Site: ${site}) are refused`;
  }
  return null;
}

/** What Electron tells about a frame: its URL and identity (the same frame has the same process and routing id). */
export interface FrameInfo {
  url: string;
  processId: number;
  routingId: number;
}

export const APP_URL_PREFIX = 'difflabel://app/';

/**
 * Why an IPC call is refused, or null: it must come from the main frame of the app's window (not an iframe,
 * not another window) while that frame shows the app itself. The sender frame is null when it navigated away
 * or was destroyed before the call arrived.
 */
export function ipcSenderRefusal(sender: FrameInfo | null | undefined, mainFrame: FrameInfo | null | undefined): string | null {
  if (!sender || !mainFrame) return 'the calling frame is gone';
  if (sender.processId !== mainFrame.processId || sender.routingId !== mainFrame.routingId) return 'only the main frame of the DiffLabel window may call the back end';
  if (!sender.url.startsWith(APP_URL_PREFIX)) return `only the DiffLabel app may call the back end, not ${JSON.stringify(sender.url)}`;
  return null;
}
