// One strict Content-Security-Policy for both shells: no inline or remote scripts, no remote connections.
// `difflabel:` is the Electron protocol that serves thumbnails and images.
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
