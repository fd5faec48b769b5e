// Visual chat about the open photo: one conversation per photo for the session, answers streamed
// token by token (`stream:token` carries the whole text so far), Stop cancels and keeps what came.
import type { GenerationChoices } from '../lib/contract.ts';
import { errorCodeOf, errorMessageOf, handleError, type Client } from '../lib/client.ts';
import { newRequestId } from '../lib/ids.ts';

export interface ChatTurn {
  id: string;
  question: string;
  answer: string;
  status: 'streaming' | 'done' | 'stopped' | 'error';
  error?: string;
  /** The model that answered. */
  model?: string;
}

/** The model sees at most this many earlier turns (the contract allows 50). */
const MAX_HISTORY = 10;

export class ChatState {
  photoId = $state<number | null>(null);
  /** Conversations by photo id, kept while the app runs. */
  sessions = $state<Record<number, ChatTurn[]>>({});

  turns = $derived(this.photoId === null ? [] : (this.sessions[this.photoId] ?? []));
  streaming = $derived(this.turns.some((t) => t.status === 'streaming'));

  readonly #client: Client;
  /** The turn receiving tokens now (any photo: switching photos does not lose it). */
  #live: ChatTurn | null = null;
  #off: (() => void) | null = null;

  constructor(client: Client) {
    this.#client = client;
  }

  start(): void {
    this.#off ??= this.#client.on('stream:token', ({ requestId, text }) => {
      if (this.#live?.id === requestId && this.#live.status === 'streaming') this.#live.answer = text;
    });
  }

  stop(): void {
    this.#off?.();
    this.#off = null;
  }

  show(photoId: number | null): void {
    this.photoId = photoId;
  }

  async ask(question: string, options: GenerationChoices = {}): Promise<void> {
    const photoId = this.photoId;
    const text = question.trim();
    if (photoId === null || !text || this.#live) return;
    this.sessions[photoId] ??= [];
    const session = this.sessions[photoId]; // read back: the proxy, not the plain array assigned
    const history = session
      .filter((t) => t.status === 'done' || t.status === 'stopped')
      .slice(-MAX_HISTORY)
      .map((t) => ({ question: t.question, answer: t.answer }));
    session.push({ id: newRequestId('chat'), question: text, answer: '', status: 'streaming' });
    // The proxied turn, so token appends are seen by the UI.
    const turn = session[session.length - 1];
    this.#live = turn;
    try {
      const result = await this.#client.call('ask', { chatId: turn.id, photoId, question: text, history, options });
      turn.model = result.model;
      if (turn.status === 'streaming') {
        // The final text is authoritative (tokens may have been coalesced on the way).
        turn.answer = result.text || turn.answer;
        turn.status = result.cancelled ? 'stopped' : 'done';
      } else if (!turn.answer) {
        turn.answer = result.text; // stopped before any token arrived
      }
    } catch (err) {
      if (errorCodeOf(err) === 'cancelled' || turn.status === 'stopped') {
        turn.status = 'stopped';
      } else {
        turn.status = 'error';
        turn.error = errorMessageOf(err);
        handleError(err, 'Asking about the photo');
      }
    } finally {
      if (this.#live === turn) this.#live = null;
    }
  }

  /** Stops the answer being streamed; what arrived so far stays. */
  async stopAnswer(): Promise<void> {
    const turn = this.#live;
    if (!turn) return;
    turn.status = 'stopped';
    try {
      await this.#client.call('cancel', { requestId: turn.id });
    } catch (err) {
      handleError(err, 'Stopping the answer');
    }
  }

  clear(): void {
    if (this.photoId !== null && !this.streaming) this.sessions[this.photoId] = [];
  }
}
