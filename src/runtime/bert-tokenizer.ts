// The Q-Former text tokenizer of the BLIP-2 retrieval branch (bert-base-uncased WordPiece + `[DEC]`),
// run by @huggingface/tokenizers. A checkpoint's tokenizer.json is used as is; without one,
// vocab.txt + tokenizer_config.json are converted in memory the way transformers' BertConverter does
// (BertNormalizer, BertPreTokenizer, WordPiece `##`, TemplateProcessing `[CLS] $A [SEP]`).
// encode() truncates on the right to maxLength *including* [CLS]/[SEP], as HF's
// `tokenizer(text, truncation=True, max_length=32)` does. No tokenizer files → null.
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { AppError } from '../shared/errors.ts';
import { type Json, exists, readConfig, readJsonObject, readText, specialList, tokenContent } from './tokenizer-files.ts';


export interface BertEncoding {
  ids: number[];
  attentionMask: number[];
}

export interface BertTokenizer {
  /** [CLS] tokens… [SEP], right-truncated to maxLength (default 32); padTo pads with [PAD] / mask 0. */
  encode(text: string, opts?: { maxLength?: number; padTo?: number }): BertEncoding;
  tokenToId(token: string): number | undefined;
  readonly specialIds: { cls: number; sep: number; pad: number; unk: number; bos?: number };
}

export const QFORMER_MAX_TEXT_TOKENS = 32;

export async function loadBertTokenizer(dir: string): Promise<BertTokenizer | null> {
  const jsonFile = join(dir, 'tokenizer.json');
  const config = await readConfig(dir);
  if (await exists(jsonFile)) return createBertTokenizer(await readJsonObject(jsonFile), config, jsonFile);
  const vocabFile = join(dir, 'vocab.txt');
  if (!(await exists(vocabFile))) return null;
  return createBertTokenizer(convertSlowBertTokenizer(await readText(vocabFile), config, vocabFile), config, vocabFile);
}

/** The tokenizer.json HF's BertConverter writes for vocab.txt + tokenizer_config.json. */
export function convertSlowBertTokenizer(vocabText: string, config: Json, file = 'vocab.txt'): Json {
  const vocab: Record<string, number> = Object.create(null);
  const lines = vocabText.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const token = line.replace(/\r$/, '');
    if (!Object.hasOwn(vocab, token)) vocab[token] = i; // like load_vocab, a repeated line keeps its first id
  });
  const cls = tokenContent(config.cls_token) ?? '[CLS]';
  const sep = tokenContent(config.sep_token) ?? '[SEP]';
  const unk = tokenContent(config.unk_token) ?? '[UNK]';
  for (const t of [cls, sep, unk]) {
    if (!Object.hasOwn(vocab, t)) throw new AppError('model_invalid', `special token ${t} is not in vocab.txt`, { file });
  }
  const added: Json[] = [];
  for (const t of declaredAddedTokens(config)) {
    // Added tokens past vocab.txt ([DEC] = 30522) extend the WordPiece vocabulary so ids resolve both ways.
    if (!Object.hasOwn(vocab, t.content)) vocab[t.content] = t.id;
    added.push({ id: t.id, content: t.content, single_word: t.single_word, lstrip: t.lstrip, rstrip: t.rstrip,
      normalized: t.normalized, special: t.special });
  }
  const lowercase = config.do_lower_case !== false;
  const stripAccents = typeof config.strip_accents === 'boolean' ? config.strip_accents : null;
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer', clean_text: true, handle_chinese_chars: config.tokenize_chinese_chars !== false,
      strip_accents: stripAccents, lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special(cls, 0), seq('A', 0), special(sep, 0)],
      pair: [special(cls, 0), seq('A', 0), special(sep, 0), seq('B', 1), special(sep, 1)],
      special_tokens: {
        [cls]: { id: cls, ids: [vocab[cls]], tokens: [cls] },
        [sep]: { id: sep, ids: [vocab[sep]], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

function createBertTokenizer(tokenizerJson: Json, config: Json, file: string): BertTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, { ...config, additional_special_tokens: specialList(config.additional_special_tokens) });
  } catch (cause) {
    throw new AppError('model_invalid', `cannot build the BERT tokenizer: ${(cause as Error).message}`, { file, cause });
  }
  const need = (key: string, fallback: string): number => {
    const content = tokenContent(config[key]) ?? fallback;
    const id = tok.token_to_id(content);
    if (id === undefined) throw new AppError('model_invalid', `${key} ${content} is not in the vocabulary`, { file });
    return id;
  };
  const bosName = tokenContent(config.bos_token);
  const bos = bosName === undefined ? undefined : tok.token_to_id(bosName);
  const specialIds = Object.freeze({
    cls: need('cls_token', '[CLS]'), sep: need('sep_token', '[SEP]'), pad: need('pad_token', '[PAD]'),
    unk: need('unk_token', '[UNK]'), ...(bos === undefined ? {} : { bos }),
  });
  return {
    specialIds,
    tokenToId: (token) => tok.token_to_id(token),
    encode(text, opts) {
      const maxLength = opts?.maxLength ?? QFORMER_MAX_TEXT_TOKENS;
      if (typeof text !== 'string') throw new AppError('invalid_argument', 'text to encode must be a string');
      if (!Number.isInteger(maxLength) || maxLength < 2) {
        throw new AppError('invalid_argument', `maxLength must be an integer ≥ 2 (room for [CLS] and [SEP]), got ${maxLength}`);
      }
      // Truncate the content first, then add the specials, so [SEP] survives (HF's "longest_first" on one sequence).
      const body = tok.encode(clipText(text, maxLength), { add_special_tokens: false }).ids.slice(0, maxLength - 2);
      const ids = [specialIds.cls, ...body, specialIds.sep];
      const attentionMask = ids.map(() => 1);
      const padTo = opts?.padTo;
      if (padTo !== undefined) {
        if (!Number.isInteger(padTo) || padTo < 0) throw new AppError('invalid_argument', `padTo must be a non-negative integer, got ${padTo}`);
        while (ids.length < padTo) { ids.push(specialIds.pad); attentionMask.push(0); }
      }
      return { ids, attentionMask };
    },
  };
}

interface DeclaredToken {
  id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean;
}

/** added_tokens_decoder of tokenizer_config.json (HF ≥ 4.34; readConfig fills it from added_tokens.json for older
 *  checkpoints) — for BLIP-2 the specials plus `[DEC]` = 30522. */
function declaredAddedTokens(config: Json): DeclaredToken[] {
  const decl = config.added_tokens_decoder;
  const out: DeclaredToken[] = [];
  if (decl && typeof decl === 'object' && !Array.isArray(decl)) {
    for (const [key, v] of Object.entries(decl as Json)) {
      const o = (v ?? {}) as Json;
      const id = Number(key);
      if (!Number.isInteger(id) || typeof o.content !== 'string') continue;
      out.push({ id, content: o.content, single_word: o.single_word === true, lstrip: o.lstrip === true,
        rstrip: o.rstrip === true, normalized: o.normalized === true, special: o.special !== false });
    }
  }
  return out.sort((a, b) => a.id - b.id);
}



/**
 * Only the first maxLength tokens survive truncation, and a WordPiece token never spans more than a
 * word of ≤100 characters, so text past (maxLength × 128) characters cannot change the result when it
 * is ordinary prose. Cutting it keeps huge inputs (a pasted document as a search query) cheap.
 */
function clipText(text: string, maxLength: number): string {
  const limit = Math.max(maxLength, 2) * 128;
  if (text.length <= limit) return text;
  const cut = text.lastIndexOf(' ', limit);
  return text.slice(0, cut > limit / 2 ? cut : limit);
}
