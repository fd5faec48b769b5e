// Ids for streamed calls (chat turns, caption regeneration, conversions): unique for the session,
// matched against `stream:token` and `convert:progress` events.
let counter = 0;

export function newRequestId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}
