// BLIP-2's OPT (decoder-only): one decoder graph over [queries; BOS prompt], KV cache in the
// runtime's buffers (opt-stepper.ts, kv-cache.ts), the GPT-2 byte-level BPE tokenizer, the demo's "Question: … Answer:" wording.
import type { ModelManifest } from '../../shared/model-manifest.ts';
import type { SessionSettings } from '../session.ts';
import { decodeGenerated, loadOptTokenizer } from '../tokenizer.ts';
import { type LanguageGraphs, type LanguageModelFamily, type LanguageText, checkPrompt, noTokenizer, openGraphs } from './language-model.ts';
import { OptDecoderStepper } from './opt-stepper.ts';
import { chatPrompt, questionPrompt } from './prompts.ts';

export const optFamily: LanguageModelFamily = {
  graphs: ['decoder'],
  async text(dir: string, manifest: ModelManifest): Promise<LanguageText> {
    const tokenizer = await loadOptTokenizer(dir);
    const missing = noTokenizer(dir);
    return {
      type: 'opt',
      tokenizer,
      tokenizerMissing: missing,
      prompts: { question: questionPrompt, chat: chatPrompt },
      historyPrefix: [],
      promptIds(text) {
        // HF's processor starts the prompt with BOS; no prompt is BOS alone.
        if (!text) return [manifest.tokens.bos];
        if (!tokenizer) throw missing;
        return tokenizer.encode(text);
      },
      decode: (ids) => (tokenizer ? decodeGenerated(tokenizer, ids) : ''),
    };
  },
  async open(dir: string, manifest: ModelManifest, settings: SessionSettings): Promise<LanguageGraphs> {
    const [decoder] = await openGraphs(dir, manifest, ['decoder'], settings);
    const lang = manifest.shapes.language!;
    const queries = manifest.shapes.queries;
    return {
      stepper(prefix, promptIds) {
        checkPrompt(promptIds, lang, queries, 'OPT decoder');
        return new OptDecoderStepper(decoder, lang, prefix, promptIds);
      },
      dispose: () => decoder.release(),
    };
  },
};
