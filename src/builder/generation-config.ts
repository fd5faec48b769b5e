// Reads generation_config.json into our generation option names (the defaults a model ships with).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from './safetensors.ts';

const MAP: Record<string, string> = {
  max_new_tokens: 'maxNewTokens', min_new_tokens: 'minNewTokens', num_beams: 'numBeams',
  length_penalty: 'lengthPenalty', repetition_penalty: 'repetitionPenalty',
  no_repeat_ngram_size: 'noRepeatNgramSize', do_sample: 'doSample', temperature: 'temperature',
  top_k: 'topK', top_p: 'topP',
};

export interface GenerationDefaults {
  options: Record<string, number | boolean>;
  bos?: number;
  eos?: number[];
  pad?: number;
  /** HF generate takes decoder_start_token_id from here before the model config. */
  decoderStart?: number;
}

export async function generationDefaults(dir: string): Promise<GenerationDefaults> {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return { options: {} };
  const json = (await readJsonFile(path, 'generation configuration')) as Record<string, unknown>;
  const options: Record<string, number | boolean> = {};
  for (const [hf, ours] of Object.entries(MAP)) {
    const v = json[hf];
    if (typeof v === 'number' || typeof v === 'boolean') options[ours] = v;
  }
  const eos = json.eos_token_id;
  return {
    options,
    bos: typeof json.bos_token_id === 'number' ? json.bos_token_id : undefined,
    eos: typeof eos === 'number' ? [eos] : Array.isArray(eos) && eos.every((e) => typeof e === 'number') ? (eos as number[]) : undefined,
    pad: typeof json.pad_token_id === 'number' ? json.pad_token_id : undefined,
    decoderStart: typeof json.decoder_start_token_id === 'number' ? json.decoder_start_token_id : undefined,
  };
}
