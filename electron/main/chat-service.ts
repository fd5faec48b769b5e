// Interactive generation for one photo: chat answers (`ask`) and regenerated captions, streamed to
// the UI as 'stream:token' events keyed by the call's request id, and cancellable by that id. Each
// event's text is the whole output so far (cumulative), so a lost or late event cannot garble it.
// These requests share the worker with the caption queue; the worker runs one request at a time,
// so an interactive one waits for at most the photo being captioned.
import type { CaptionOptions, GeneratedTextData, WireGenerationOptions } from '../../src/jobs/protocol.ts';
import type { AppSettings, ChatAnswer } from '../../src/shared/app-types.ts';
import { AppError, errorCode } from '../../src/shared/errors.ts';
import type { GenerationChoices, ParsedArgsOf } from '../../src/shared/ipc-contract.ts';
import type { EventHub } from './event-hub.ts';
import type { InferenceService } from './inference-service.ts';

/** Answers are longer than captions; the user may ask for more per call. */
export const DEFAULT_ANSWER_TOKENS = 60;

export interface RegeneratedCaption {
  result: GeneratedTextData;
  options: CaptionOptions;
  modelId: string;
  /** When the model folder was converted (recorded with the caption). */
  convertedAt: string;
}

export class ChatService {
  private readonly active = new Map<string, AbortController>();

  constructor(private readonly inference: InferenceService, private readonly events: EventHub, private readonly settings: () => AppSettings) {}

  /** Answers a question about the photo at `path`; a cancelled answer resolves with its partial text. */
  async ask(args: ParsedArgsOf<'ask'>, path: string): Promise<ChatAnswer> {
    const { host, modelId: model } = this.inference.requireCaption();
    const { prompt: _unusedPrompt, ...choices } = args.options;
    const options: WireGenerationOptions = { maxNewTokens: DEFAULT_ANSWER_TOKENS, numBeams: 1, ...choices };
    let partial = '';
    try {
      const r = await this.track(args.chatId, (signal) => host.ask(path, args.question, { ...options, history: args.history }, {
        signal,
        onToken: (t) => {
          partial = t.text;
          this.events.emit('stream:token', { requestId: args.chatId, text: t.text });
        },
      }));
      return { text: r.text, endedWithEos: r.endedWithEos, cancelled: false, model };
    } catch (err) {
      if (errorCode(err) === 'cancelled') return { text: partial, endedWithEos: false, cancelled: true, model };
      throw err;
    }
  }

  /** A new AI caption for the photo at `path` (streamed); cancelling rejects with 'cancelled'. */
  async caption(requestId: string, path: string, choices: GenerationChoices): Promise<RegeneratedCaption> {
    const { host, modelId, convertedAt } = this.inference.requireCaption();
    const s = this.settings();
    const prompt = (choices.prompt ?? s.captionPrompt).trim();
    const options: CaptionOptions = {
      maxNewTokens: s.maxNewTokens, numBeams: s.numBeams, ...withoutPrompt(choices), ...(prompt ? { prompt } : {}),
    };
    const result = await this.track(requestId, (signal) => host.caption(path, options, {
      signal,
      onToken: (t) => this.events.emit('stream:token', { requestId, text: t.text }),
    }));
    return { result, options, modelId, convertedAt };
  }

  /** Cancels the ask or regeneration with this id; false when none is running. */
  cancel(requestId: string): boolean {
    const ac = this.active.get(requestId);
    if (!ac) return false;
    ac.abort();
    return true;
  }

  cancelAll(): void {
    for (const ac of this.active.values()) ac.abort();
  }

  private async track<T>(requestId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.active.has(requestId)) throw new AppError('invalid_argument', `request id ${requestId} is already in use`);
    const ac = new AbortController();
    this.active.set(requestId, ac);
    try {
      return await run(ac.signal);
    } finally {
      this.active.delete(requestId);
    }
  }
}

function withoutPrompt(c: GenerationChoices): Omit<GenerationChoices, 'prompt'> {
  const { prompt: _prompt, ...rest } = c;
  return rest;
}
