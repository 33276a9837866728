// Raw HTTP requests to a running server, with every header under the test's control (Host and Origin
// included, which fetch sets itself), and a response that arrives even while the body is still being sent.
import { request, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body; throws when it is not JSON. */
  json(): any;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  /** Sent with a content-length, or chunked when a generator of chunks. */
  body?: string | Buffer | (() => Iterable<Buffer>);
}

export function rawRequest(base: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((ok, fail) => {
    let answered = false;
    const req = request({ host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: r.path, method: r.method ?? 'POST', headers: r.headers });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        ok({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', fail);
    });
    // A server that answers early (413) may close the connection while the body is still being written.
    req.on('error', (e) => {
      if (!answered) fail(e);
    });
    const body = r.body;
    if (typeof body === 'function') {
      void (async () => {
        for (const chunk of body()) {
          if (answered || req.destroyed) break;
          if (!req.write(chunk)) await new Promise((d) => req.once('drain', d).once('close', d));
        }
        req.end();
      })();
    } else req.end(body);
  });
}
