// API request bodies: read up to a byte limit per method, then parsed as JSON only when nesting and the number
// of objects and arrays are within bounds. JSON.parse turns a few bytes into many (an empty object is 2 bytes
// of text and about 60 of heap), so bytes alone do not bound what one request can make the process hold.
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../api/errors';
import { parseJson } from '../json';

export interface BodyLimits {
  bytes: number;
  /** Objects and arrays in the document. */
  containers: number;
  depth: number;
}

const MiB = 2 ** 20;

/**
 * Ordinary calls and edits carry ids, short texts and one mask (a compressed mask of a 50 MP image with a
 * million runs is 1.6 MiB). An inline COCO document for coco.import may be up to 64 MiB and a million objects
 * and arrays (COCO val2017, 25 MB with 36 781 annotations of about four each, has under 200 000); larger ones
 * are imported with `file` or the CLI. Worst cases measured: docs/architecture.md, "Web mode security".
 */
export const BODY_LIMITS = {
  default: { bytes: 8 * MiB, containers: 10_000, depth: 32 },
  'coco.import': { bytes: 64 * MiB, containers: 1_000_000, depth: 32 },
} satisfies Record<string, BodyLimits>;

export function bodyLimitsOf(method: string): BodyLimits {
  return method === 'coco.import' ? BODY_LIMITS['coco.import'] : BODY_LIMITS.default;
}

/** True while the request still has body bytes the server has not read (an answer then closes the connection). */
export function hasUnreadBody(req: IncomingMessage): boolean {
  const declared = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  return (declared || req.headers['transfer-encoding'] !== undefined) && !req.readableEnded;
}

export async function readJsonBody(req: IncomingMessage, method: string, limits = bodyLimitsOf(method)): Promise<unknown> {
  const tooLarge = () => new ApiError('too_large', `request body over ${limits.bytes} bytes, the limit for ${method}`);
  // A declared length over the limit is refused before a byte is read.
  if (Number(req.headers['content-length']) > limits.bytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early leaves the request alone (no destroy): the 413 still has to be written on its socket.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limits.bytes) throw tooLarge();
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (!body.length) return {};
  checkShape(body, limits, method);
  try {
    return parseJson(body.toString('utf8'));
  } catch (e) {
    throw new ApiError('bad_request', `request body is ${(e as Error).message}`);
  }
}

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, OPEN_BRACKET = 0x5b, CLOSE_BRACE = 0x7d, CLOSE_BRACKET = 0x5d;

/** One pass over the bytes, outside strings: how deep objects and arrays nest and how many there are. */
function checkShape(body: Buffer, limits: BodyLimits, method: string): void {
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > limits.depth) throw new ApiError('bad_request', `request body nests objects and arrays deeper than ${limits.depth} levels`);
      if (++containers > limits.containers) throw new ApiError('too_large', `request body has more than ${limits.containers} objects and arrays, the limit for ${method}`);
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
  }
}
