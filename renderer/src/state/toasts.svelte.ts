// Short messages for the user (errors, problems reported by main). One app-wide instance, like
// Immich's notification store, so `handleError` can be called from any state class.
export type ToastKind = 'info' | 'success' | 'warning' | 'error';

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
}

export class ToastState {
  items = $state<Toast[]>([]);
  #next = 1;
  #timers = new Map<number, ReturnType<typeof setTimeout>>();

  /** Shows a message; errors stay until dismissed, the rest fade after `timeoutMs`. */
  show(kind: ToastKind, message: string, timeoutMs = kind === 'error' ? 0 : 5000): number {
    const id = this.#next++;
    this.items.push({ id, kind, message });
    if (this.items.length > 5) this.dismiss(this.items[0].id);
    if (timeoutMs > 0) this.#timers.set(id, setTimeout(() => this.dismiss(id), timeoutMs));
    return id;
  }

  dismiss(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  clear(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.items = [];
  }
}

export const toasts = new ToastState();
