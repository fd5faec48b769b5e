// The processing queue as main reports it, and the user's controls over it.
import type { QueueStatus } from '../lib/contract.ts';
import { handleError, type Client } from '../lib/client.ts';

export const EMPTY_QUEUE: QueueStatus = {
  paused: false, pending: 0, done: 0, failed: 0, current: null, ratePerMinute: null, etaSeconds: null, recentErrors: [],
};

export class QueueState {
  status = $state.raw<QueueStatus>(EMPTY_QUEUE);
  busy = $state(false);

  active = $derived(this.status.current !== null || this.status.pending > 0);

  readonly #client: Client;
  #off: (() => void) | null = null;

  constructor(client: Client) {
    this.#client = client;
  }

  start(): void {
    this.#off ??= this.#client.on('queue:status', (s) => this.apply(s));
  }

  stop(): void {
    this.#off?.();
    this.#off = null;
  }

  apply(status: QueueStatus): void {
    this.status = status;
  }

  pause = () => this.#run('pauseQueue', 'Pausing the queue');
  resume = () => this.#run('resumeQueue', 'Resuming the queue');
  retryFailed = () => this.#run('retryFailed', 'Retrying failed photos');

  async #run(channel: 'pauseQueue' | 'resumeQueue' | 'retryFailed', doing: string): Promise<void> {
    this.busy = true;
    try {
      this.apply(await this.#client.call(channel));
    } catch (err) {
      handleError(err, doing);
    } finally {
      this.busy = false;
    }
  }
}
