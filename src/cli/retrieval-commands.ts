// `match`: how well a text describes an image, with the BLIP-2 retrieval model (ITC and ITM).
import type { Command } from 'commander';
import { AppError } from '../shared/errors.ts';
import { loadBertTokenizer } from '../runtime/bert-tokenizer.ts';
import { Blip2Retrieval } from '../runtime/blip2/retrieval-model.ts';
import { type GenerationFlags, parseIds, sessionSettings } from './generation-flags.ts';

interface MatchFlags extends Pick<GenerationFlags, 'threads' | 'ep' | 'ortCache'> {
  model: string; text?: string; textIds?: string; json?: boolean;
}

export function addRetrievalCommands(program: Command): void {
  program
    .command('match')
    .description('score how well a text matches an image: ITC (max-over-queries similarity) and ITM (match probability)')
    .argument('<image>')
    .requiredOption('--model <dir>', 'converted retrieval model folder (blip2-itm-vit-g)')
    .option('--text <text>', 'the text, tokenized with the model\'s WordPiece tokenizer')
    .option('--text-ids <ids>', 'the text as token ids, e.g. 101,1037,4937,102')
    .option('--threads <n>', 'CPU threads for inference (default: all cores)')
    .option('--json', 'print {"itc": …, "itm": …}')
    .action(async (image: string, o: MatchFlags) => {
      if ((o.text === undefined) === (o.textIds === undefined)) throw new AppError('invalid_argument', 'give exactly one of --text or --text-ids');
      if (o.text !== undefined && !o.text.trim()) throw new AppError('invalid_argument', 'the text is empty');
      const model = await Blip2Retrieval.load(o.model, sessionSettings(o));
      try {
        let ids: number[];
        if (o.textIds !== undefined) ids = parseIds(o.textIds, '--text-ids');
        else {
          const tok = await loadBertTokenizer(o.model);
          if (!tok) throw new AppError('tokenizer_missing', 'this model has no tokenizer files; pass --text-ids instead', { file: o.model });
          ids = tok.encode(o.text!).ids;
        }
        const enc = await model.encodeImage(image);
        const itc = model.itc(enc.imageFeatures, await model.textEmbeds(ids));
        const itm = (await model.itm(enc.imageEmbeds, ids)).probMatch;
        process.stdout.write(o.json ? `${JSON.stringify({ itc, itm })}\n` : `ITC similarity ${itc.toFixed(4)}, ITM match probability ${itm.toFixed(4)}\n`);
      } finally {
        await model.dispose();
      }
    });
}
