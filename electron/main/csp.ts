// The renderer's Content Security Policy, in one place for the app (security.ts, with the pa-media:
// scheme) and the e2e harness (with its http media base), so the tests load the renderer under the
// same rules it ships with: only its own scripts, no inline script, images from itself, data: URLs
// and the media source, and nothing that lets it leave its origin.
export function contentSecurityPolicy(mediaSource: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // Svelte transitions and inline style attributes; no inline script is allowed.
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' ${mediaSource} data:`,
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
