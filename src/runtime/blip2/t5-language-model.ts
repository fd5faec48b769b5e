// BLIP-2's Flan-T5 (encoder-decoder): encoder and decoder graphs (t5-stepper.ts), T5's SentencePiece
// tokenizer from tokenizer.json, LAVIS's "Question: … Short answer:" wording for VQA. The prompt is
// the encoder's input, ending with </s> as T5's tokenizer writes it; the answer is a fresh sequence
// from the decoder start token (never a continuation of the prompt, unlike OPT).
import { type AppError, errorCode } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import type { SessionSettings } from '../session.ts';
import { type TextTokenizer, decodeGenerated, loadT5Tokenizer } from '../tokenizer.ts';
import { type LanguageGraphs, type LanguageModelFamily, type LanguageText, checkPrompt, noTokenizer, openGraphs } from './language-model.ts';
import { chatPrompt, shortAnswerPrompt } from './prompts.ts';
import { type T5Sizes, T5Stepper } from './t5-stepper.ts';

const decoderStartOf = (manifest: ModelManifest) => manifest.tokens.decoderStart ?? manifest.tokens.pad;

export const t5Family: LanguageModelFamily = {
  graphs: ['encoder', 'decoder'],
  async text(dir: string, manifest: ModelManifest): Promise<LanguageText> {
    const tokenizer = await loadT5Tokenizer(dir).catch((err) => {
      if (errorCode(err) === 'tokenizer_missing') return err as AppError; // spiece.model only: token ids still work
      throw err;
    });
    const tok: TextTokenizer | null = tokenizer instanceof Error ? null : tokenizer;
    const missing = tokenizer instanceof Error ? tokenizer : noTokenizer(dir);
    return {
      type: 't5',
      tokenizer: tok,
      tokenizerMissing: missing,
      prompts: { question: shortAnswerPrompt, chat: chatPrompt },
      // HF's decoder input_ids start with the start token; its processors see it.
      historyPrefix: [decoderStartOf(manifest)],
      promptIds(text) {
        // T5's tokenizer ends every text with </s>; no prompt is </s> alone (HF's BLIP-2 default).
        if (!text) return [manifest.tokens.eos[0]];
        if (!tok) throw missing;
        return tok.encode(text);
      },
      decode: (ids) => (tok ? decodeGenerated(tok, ids) : ''),
    };
  },
  async open(dir: string, manifest: ModelManifest, settings: SessionSettings): Promise<LanguageGraphs> {
    const [encoder, decoder] = await openGraphs(dir, manifest, ['encoder', 'decoder'], settings);
    const lang = manifest.shapes.language! as T5Sizes;
    const queries = manifest.shapes.queries;
    return {
      stepper(prefix, promptIds) {
        checkPrompt(promptIds, lang, queries, 'T5 encoder');
        return new T5Stepper({ encoder, decoder }, lang, prefix, promptIds, decoderStartOf(manifest));
      },
      dispose: async () => { await Promise.all([encoder.release(), decoder.release()]); },
    };
  },
};
