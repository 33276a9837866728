// One strict Content-Security-Policy for both shells: no inline or remote scripts, no remote connections.
// `difflabel:` is the Electron protocol that serves thumbnails and images. Both send it as a response header
// with the page (src/core/server/server.ts, src/main/index.ts); a <meta> copy would make Chromium log that
// frame-ancestors is ignored there.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: difflabel:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
