// The headless command line over the core: download or convert models, caption and question photos.
import { Command, CommanderError } from 'commander';
import { AppError, toErrorData } from '../shared/errors.ts';
import { convertCheckpoint } from '../builder/convert.ts';
import type { Quantization } from '../builder/quant-plan.ts';
import { Blip2Model, type GenerateOptions, type ImagePrefix } from '../runtime/blip2/model.ts';
import { LOW_MEMORY_BATCH } from '../jobs/protocol.ts';
import { type GenerationFlags, addGenerationFlags, generationOptions, intFlag, parseIds, sessionSettings } from './generation-flags.ts';
import { Progress } from './progress.ts';
import { addLibraryCommands } from './library-commands.ts';
import { addRetrievalCommands } from './retrieval-commands.ts';
import { addTagsCommands } from './tags-commands.ts';
import { addSearchCommands } from './search-commands.ts';
import { addModelsCommands } from './models-commands.ts';

interface ModelFlags extends GenerationFlags { model: string; json?: boolean }

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('photo-assistant')
    .description('On-device BLIP-2: captions and answers about photos, nothing leaves this machine')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('convert')
    .description('turn a Hugging Face BLIP-2 checkpoint folder into an ONNX model folder')
    .argument('<checkpoint-dir>')
    .argument('<out-dir>')
    .option('--quant <kind>', 'weight precision: fp32, int8 or int4', 'fp32')
    .option('--block-size <n>', 'quantization block size (power of two ≥ 16; default 32, int4: 64)')
    .option('--asymmetric', 'asymmetric quantization blocks (zero points)')
    .option('--accuracy-level <n>', 'MatMulNBits accuracy level: 4 = int8 activations (fast), 0 = float', '4')
    .option('--int8-projections <ends>', 'int4: language-model projections kept in 8 bits, comma-separated ends of their module paths (default: fc2,self_attn.v_proj,self_attn.out_proj and T5\'s DenseReluDense.wo,SelfAttention.v,SelfAttention.o; "none": all 4-bit)')
    .option('--int8-block-size <n>', 'int4: block size of its 8-bit blocks (projections above and the LM head; default 128)')
    .option('--force', 'replace an existing output folder')
    .action(async (ckpt: string, out: string, o: { quant: string; force?: boolean; blockSize?: string; asymmetric?: boolean; accuracyLevel: string; int8Projections?: string; int8BlockSize?: string }) => {
      const started = Date.now();
      const m = await convertCheckpoint(ckpt, out, {
        quant: o.quant as Quantization,
        ...(o.blockSize ? { blockSize: intFlag(o.blockSize, '--block-size', 16) } : {}),
        asymmetric: o.asymmetric,
        accuracyLevel: intFlag(o.accuracyLevel, '--accuracy-level', 0),
        ...(o.int8BlockSize ? { int8BlockSize: intFlag(o.int8BlockSize, '--int8-block-size', 16) } : {}),
        ...(o.int8Projections ? { int8Projections: o.int8Projections === 'none' ? [] : o.int8Projections.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
        force: o.force,
        // This process exists to convert: Ctrl-C removes the temp folder before exiting.
        handleSignals: true,
        onProgress: (e) => e.part && process.stderr.write(`building ${e.part} graph…\n`),
      });
      const l = m.shapes.language;
      const what = l ? `${l.type}, ${l.layers} layers, vocab ${l.vocabRows}` : `retrieval, ${m.shapes.retrieval?.embedDim}-d embeddings`;
      process.stdout.write(`converted ${m.architecture} (${what}, ${m.quantization.weights}) to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    });

  addGenerationFlags(
    program
      .command('caption')
      .description('write a caption for each image')
      .argument('<image...>')
      .requiredOption('--model <dir>', 'converted model folder')
      .option('--prompt <text>', 'text the caption starts from, e.g. "a photo of"')
      .option('--prompt-ids <ids>', 'prompt as token ids, exactly as HF input_ids (OPT: starting with BOS 2; Flan-T5: ending with </s> 1)')
      .option('--json', 'one JSON object per image per line'),
  ).action(async (images: string[], o: ModelFlags & { prompt?: string; promptIds?: string }) => {
    if (o.prompt !== undefined && o.promptIds !== undefined) throw new AppError('invalid_argument', 'use either --prompt or --prompt-ids, not both');
    const gen = generationOptions(o);
    const promptIds = o.promptIds !== undefined ? parseIds(o.promptIds, '--prompt-ids') : undefined;
    const model = await Blip2Model.load(o.model, sessionSettings(o), { lowMemory: o.lowMemory });
    noteMissingTokenizer(model, o.json);
    const ids = promptIds ?? model.promptIds(o.prompt);
    exitCode = await forEachImage(images, o.json, model, (enc) => model.generate(enc, ids, gen));
    await model.dispose();
  });

  addGenerationFlags(
    program
      .command('ask')
      .description('answer a question about an image (in the VQA wording of the model\'s language model)')
      .argument('<image>')
      .argument('<question>')
      .requiredOption('--model <dir>', 'converted model folder')
      .option('--json', 'print a JSON object'),
  ).action(async (image: string, question: string, o: ModelFlags) => {
    const gen: GenerateOptions = generationOptions(o);
    const model = await Blip2Model.load(o.model, sessionSettings(o), { lowMemory: o.lowMemory });
    exitCode = await forEachImage([image], o.json, model, (enc) => model.ask(enc, question, gen));
    await model.dispose();
  });

  addLibraryCommands(program);
  addRetrievalCommands(program);
  addTagsCommands(program);
  addSearchCommands(program);
  addModelsCommands(program);

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const e = toErrorData(err);
    process.stderr.write(`photo-assistant: ${e.message}\n`);
    return e.code === 'invalid_argument' ? 2 : 1;
  }
}

/** Without a tokenizer answers have no text: say why once, instead of printing empty lines silently. */
function noteMissingTokenizer(model: Blip2Model, json: boolean | undefined): void {
  if (model.tokenizer || json) return;
  process.stderr.write(`photo-assistant: ${model.language.tokenizerMissing.message}; use --json to see the generated token ids\n`);
}

/**
 * Encodes every image and runs `answer` on it; one failure never stops the others. In low-memory
 * mode the images are encoded a batch at a time before any answer. Returns the exit code.
 */
async function forEachImage(
  images: string[],
  json: boolean | undefined,
  model: Blip2Model,
  answer: (enc: ImagePrefix) => Promise<{ text: string; tokenIds: number[] }>,
): Promise<number> {
  let failures = 0;
  const progress = !json && images.length > 1 ? new Progress(images.length) : undefined;
  const batch = model.halves.lowMemory ? LOW_MEMORY_BATCH : 1;
  for (let start = 0; start < images.length; start += batch) {
    const part = images.slice(start, start + batch);
    // Only the prefix is kept: a batch of full encodings (vision output included) would cost 50 MB.
    const encodings: PromiseSettledResult<ImagePrefix>[] = [];
    for (const image of part) {
      encodings.push(await model.encodeImage(image).then(({ prefix }) => ({ status: 'fulfilled' as const, value: { prefix } }), (reason) => ({ status: 'rejected' as const, reason })));
    }
    for (const [i, image] of part.entries()) {
      try {
        const enc = encodings[i];
        if (enc.status === 'rejected') throw enc.reason;
        const r = await answer(enc.value);
        if (json) process.stdout.write(JSON.stringify({ image, text: r.text, tokenIds: r.tokenIds }) + '\n');
        else progress ? progress.log(`${image}: ${r.text}`) : process.stdout.write(`${r.text}\n`);
      } catch (err) {
        failures++;
        const e = toErrorData(err);
        if (json) process.stdout.write(JSON.stringify({ image, error: e }) + '\n');
        const msg = e.message.includes(image) ? e.message : `${image}: ${e.message}`;
        progress ? progress.log(`error: ${msg}`, true) : process.stderr.write(`photo-assistant: ${msg}\n`);
      }
      progress?.tick();
    }
  }
  progress?.stop();
  if (failures) process.stderr.write(`photo-assistant: ${failures} of ${images.length} image(s) failed\n`);
  return failures ? 1 : 0;
}
