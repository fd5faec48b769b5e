// The language models' text tokenizers for the BLIP-2 runtime, run by @huggingface/tokenizers.
// OPT (GPT-2 byte-level BPE): a checkpoint's own tokenizer.json is used as is; without one, vocab.json +
// merges.txt are converted in memory the way transformers converts a slow GPT2Tokenizer to a fast one.
// T5 (SentencePiece unigram): tokenizer.json only; spiece.model is not parsed here.
// No tokenizer files → null, so a checkpoint without them still runs on raw token ids.
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { AppError } from '../shared/errors.ts';
import { type Json, exists, readConfig, readJsonObject, readText, specialList, tokenContent } from './tokenizer-files.ts';

export interface TextTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean }): string;
  readonly specialIds: { bos?: number; eos?: number; pad?: number; unk?: number };
  tokenToId(token: string): number | undefined;
}


/** tokenizer.json object plus the tokenizer_config object to hand to the library. */
export interface TokenizerSource {
  tokenizerJson: Json;
  config: Json;
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

export async function loadOptTokenizer(dir: string): Promise<TextTokenizer | null> {
  const jsonFile = join(dir, 'tokenizer.json');
  if (await exists(jsonFile)) {
    const config = await readConfig(dir);
    return createTokenizer({ tokenizerJson: await readJsonObject(jsonFile), config }, jsonFile);
  }
  const converted = await convertSlowOptTokenizer(dir);
  return converted ? createTokenizer(converted, join(dir, 'vocab.json')) : null;
}

/**
 * T5's tokenizer from tokenizer.json (a Unigram model whose post-processor appends </s>); null without
 * tokenizer files. A folder with only spiece.model throws 'tokenizer_missing' saying so: converting a
 * SentencePiece model (and its normalization charsmap) is left to transformers, which writes tokenizer.json.
 */
export async function loadT5Tokenizer(dir: string): Promise<TextTokenizer | null> {
  const jsonFile = join(dir, 'tokenizer.json');
  if (await exists(jsonFile)) {
    return createTokenizer({ tokenizerJson: await readJsonObject(jsonFile), config: await readConfig(dir) }, jsonFile);
  }
  if (await exists(join(dir, 'spiece.model'))) {
    throw new AppError('tokenizer_missing',
      'this T5 model has only spiece.model (a SentencePiece model), which Photo Assistant cannot read: it needs tokenizer.json. '
      + 'Put the tokenizer.json of the model\'s Hugging Face repository (or the one transformers writes with '
      + 'AutoTokenizer.from_pretrained(folder).save_pretrained(folder)) into the checkpoint and convert again. '
      + 'Until then only token ids work (--prompt-ids), and answers cannot be turned into text', { file: dir });
  }
  return null;
}

/**
 * Builds the tokenizer.json HF's GPT2Converter would write for vocab.json + merges.txt +
 * tokenizer_config.json; null when vocab.json or merges.txt is absent.
 */
export async function convertSlowOptTokenizer(dir: string): Promise<TokenizerSource | null> {
  const vocabFile = join(dir, 'vocab.json');
  const mergesFile = join(dir, 'merges.txt');
  if (!(await exists(vocabFile)) || !(await exists(mergesFile))) return null;
  const vocab = parseVocab(await readJsonObject(vocabFile), vocabFile);
  const merges = parseMerges(await readText(mergesFile), mergesFile);
  const config = await readConfig(dir);

  const addedTokens: Json[] = [];
  const extraSpecial: string[] = [];
  const usedIds = new Set(Object.values(vocab));
  for (const t of declaredAddedTokens(config, vocab)) {
    if (!Object.hasOwn(vocab, t.content)) {
      // Tokens beyond vocab.json (Blip2Processor's <image>) are not split out of text, as in the GPT2Tokenizer that produced the reference cases; the id stays known for tokenToId/decode.
      if (!usedIds.has(t.id)) vocab[t.content] = t.id;
      if (t.special) extraSpecial.push(t.content);
      continue;
    }
    addedTokens.push({
      id: t.id, content: t.content, single_word: t.single_word, lstrip: t.lstrip, rstrip: t.rstrip,
      normalized: t.normalized, special: t.special,
    });
  }

  let postProcessor: Json = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
  if (config.add_bos_token === true) {
    const bos = tokenContent(config.bos_token);
    const bosId = bos === undefined ? undefined : vocab[bos];
    if (bos === undefined || bosId === undefined) {
      throw new AppError('model_invalid', 'add_bos_token is set but the BOS token is not in vocab.json', { file: join(dir, 'tokenizer_config.json') });
    }
    const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
    const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
    postProcessor = {
      type: 'TemplateProcessing',
      single: [special(bos, 0), seq('A', 0)],
      pair: [special(bos, 0), seq('A', 0), seq('B', 1)],
      special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
    };
  }
  const addPrefixSpace = config.add_prefix_space === true;
  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const listed = specialList(config.additional_special_tokens);
  const extra = extraSpecial.filter((c) => !listed.includes(c));
  return { tokenizerJson, config: extra.length ? { ...config, additional_special_tokens: [...listed, ...extra] } : config };
}

/** The caption/answer text: special tokens dropped, HF spacing cleanup, surrounding whitespace
 *  (OPT's "\n" stop token, the leading space of a continuation) stripped. */
export function decodeGenerated(tok: TextTokenizer, ids: readonly number[]): string {
  return tok.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }).trim();
}

function createTokenizer(source: TokenizerSource, file: string): TextTokenizer {
  // The library compares additional_special_tokens as strings; configs may store them as objects.
  const config: Json = { ...source.config, additional_special_tokens: specialList(source.config.additional_special_tokens) };
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(source.tokenizerJson, config);
  } catch (cause) {
    throw new AppError('model_invalid', `cannot build the tokenizer: ${(cause as Error).message}`, { file, cause });
  }
  const idOf = (key: (typeof SPECIAL_KEYS)[number]): number | undefined => {
    const content = tokenContent(config[key]);
    return content === undefined ? undefined : tok.token_to_id(content);
  };
  const specialIds: TextTokenizer['specialIds'] = {};
  for (const [name, key] of [['bos', 'bos_token'], ['eos', 'eos_token'], ['pad', 'pad_token'], ['unk', 'unk_token']] as const) {
    const id = idOf(key);
    if (id !== undefined) specialIds[name] = id;
  }
  return {
    specialIds: Object.freeze(specialIds),
    encode: (text, opts) => tok.encode(text, { add_special_tokens: opts?.addSpecialTokens ?? true }).ids,
    decode: (ids, opts) => {
      // The LM head has more rows (50272) than the tokenizer has tokens (50265/50266): unknown ids decode to
      // nothing instead of the library's unk fallback, and an empty list is "" rather than a throw.
      const known = ids.filter((id) => Number.isInteger(id) && tok.id_to_token(id) !== undefined);
      if (known.length === 0) return '';
      return tok.decode(known, {
        skip_special_tokens: opts?.skipSpecialTokens ?? false,
        clean_up_tokenization_spaces: opts?.cleanUpTokenizationSpaces,
      });
    },
    tokenToId: (token) => tok.token_to_id(token),
  };
}

interface DeclaredToken {
  id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean;
}

/** Added tokens as tokenizer_config declares them; older configs without added_tokens_decoder only name
 *  bos/eos/unk/pad, which the slow tokenizer then registers as special tokens. */
function declaredAddedTokens(config: Json, vocab: Record<string, number>): DeclaredToken[] {
  const decl = config.added_tokens_decoder;
  if (decl && typeof decl === 'object' && !Array.isArray(decl)) {
    const out: DeclaredToken[] = [];
    for (const [key, raw] of Object.entries(decl as Record<string, unknown>)) {
      const t = (raw ?? {}) as Record<string, unknown>;
      const id = Number(key);
      if (!Number.isInteger(id) || typeof t.content !== 'string') continue;
      out.push({
        id, content: t.content, single_word: t.single_word === true, lstrip: t.lstrip === true,
        rstrip: t.rstrip === true, normalized: t.normalized !== false, special: t.special === true,
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }
  const seen = new Set<string>();
  const out: DeclaredToken[] = [];
  for (const key of SPECIAL_KEYS) {
    const content = tokenContent(config[key]);
    if (content === undefined || seen.has(content) || vocab[content] === undefined) continue;
    seen.add(content);
    out.push({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  return out.sort((a, b) => a.id - b.id);
}



function parseVocab(json: Json, file: string): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null);
  for (const [token, id] of Object.entries(json)) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new AppError('model_invalid', `vocab.json maps ${JSON.stringify(token)} to ${JSON.stringify(id)}, not a token id`, { file });
    }
    vocab[token] = id as number;
  }
  return vocab;
}

function parseMerges(text: string, file: string): [string, string][] {
  const lines = text.split(/\r?\n/);
  const merges: [string, string][] = [];
  for (const [i, line] of lines.entries()) {
    // Like the slow tokenizer, the "#version" header is not a merge.
    if (line.trim() === '' || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new AppError('model_invalid', `merges.txt line ${i + 1} is not a pair of tokens`, { file });
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}
