// The IPC dispatcher: channel name + raw argument → the service method, with the argument checked
// against the contract's schema first (nothing unvalidated reaches the core) and every outcome as
// data: { ok: true, data } or { ok: false, error: { code, message } }, never a thrown Error. Electron's
// main registers it for each channel (and checks the sender first); the e2e harness exposes it to
// the page. Channels are accepted as the IPC name ('pa:getState') or the bare call name ('getState').
import { toErrorData } from '../../src/shared/errors.ts';
import { CHANNELS, type Channel, type IpcResult, ipcChannel, parseArgs } from '../../src/shared/ipc-contract.ts';
import type { ServiceApi } from './app-service.ts';

export type Dispatch = (channel: string, raw: unknown) => Promise<IpcResult<unknown>>;

const BY_NAME = new Map<string, Channel>(CHANNELS.flatMap((c) => [[ipcChannel(c), c], [c, c]] as [string, Channel][]));

export function createDispatcher(service: ServiceApi): Dispatch {
  return async (channel, raw) => {
    const call = typeof channel === 'string' ? BY_NAME.get(channel) : undefined;
    if (!call) {
      return { ok: false, error: { code: 'invalid_argument', message: `unknown call ${JSON.stringify(String(channel)).slice(0, 120)}` } };
    }
    // The bridge lets every argument be left out; a call whose fields all have defaults
    // (listPhotos, search) then means "all defaults", as if `{}` had been passed.
    let args = parseArgs(call, raw);
    if (!args.ok && raw == null) {
      const withDefaults = parseArgs(call, {});
      if (withDefaults.ok) args = withDefaults;
    }
    if (!args.ok) return args;
    try {
      // One method per channel with exactly the parsed argument type (ServiceApi); the union of all
      // signatures cannot be called with one argument type, hence the erasure.
      const method = service[call] as (a: unknown) => Promise<unknown>;
      return { ok: true, data: await method.call(service, args.data) };
    } catch (err) {
      return { ok: false, error: toErrorData(err) };
    }
  };
}
