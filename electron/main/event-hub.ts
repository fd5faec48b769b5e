// The typed event bus between the main-process services and whoever shows their events (Electron's
// webContents.send in the app, page.evaluate in the e2e harness). Payloads follow the contract's
// EventMap; a listener that throws is logged and never stops the others.
import type { EventMap, EventName } from '../../src/shared/ipc-contract.ts';

type Listener<E extends EventName> = (payload: EventMap[E]) => void;

export class EventHub {
  private readonly listeners = new Map<EventName, Set<(payload: unknown) => void>>();

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const erased = listener as (payload: unknown) => void;
    set.add(erased);
    return () => void set.delete(erased);
  }

  emit<E extends EventName>(event: E, payload: EventMap[E]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) {
      try {
        l(payload);
      } catch (err) {
        // A crash here would take the app's main process down with one bad listener.
        console.error(`[main] a listener of ${event} failed:`, err);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
