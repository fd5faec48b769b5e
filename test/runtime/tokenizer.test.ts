// OPT tokenizer against the HF reference cases (tokenizer_opt.json) and the generated texts in the OPT
// goldens, through both loading paths: vocab.json + merges.txt converted in memory, and tokenizer.json.
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { errorCode } from '../../src/shared/errors.ts';
import { convertSlowOptTokenizer, decodeGenerated, loadOptTokenizer, type TextTokenizer } from '../../src/runtime/tokenizer.ts';
import { fixturePath, readJson, withTempDir } from '../helpers/fixtures.ts';

interface TokCase { text: string; input_ids: number[]; tokens: string[]; decoded: string; decoded_cleanup: string }
interface Generated { sequence: number[]; text: string }
interface Golden {
  prompts: { name: string; text: string; input_ids: number[] }[];
  cases: { prompts: Record<string, { greedy: Generated; beam5: Generated }> }[];
}

const OPT_DIR = fixturePath('opt');
const CASES = readJson<{ cases: TokCase[] }>('tokenizer_opt.json').cases;
const GOLDEN = readJson<Golden>('opt/golden.json');

function checkCases(getTok: () => TextTokenizer) {
  for (const c of CASES) {
    it(`matches HF for ${JSON.stringify(c.text)}`, () => {
      const tok = getTok();
      assert.deepEqual(tok.encode(c.text), c.input_ids);
      assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.input_ids.slice(1));
      assert.equal(tok.decode(c.input_ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }), c.decoded);
      assert.equal(tok.decode(c.input_ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }), c.decoded_cleanup);
      // The config's clean_up_tokenization_spaces (true for OPT) is the default.
      assert.equal(tok.decode(c.input_ids, { skipSpecialTokens: true }), c.decoded_cleanup);
      c.tokens.forEach((t, i) => assert.equal(tok.tokenToId(t), c.input_ids[i], t));
    });
  }
}

describe('OPT tokenizer from vocab.json + merges.txt', () => {
  let tok: TextTokenizer;
  before(async () => {
    const t = await loadOptTokenizer(OPT_DIR);
    assert.ok(t);
    tok = t;
  });

  checkCases(() => tok);

  it('knows the OPT special ids and the newline stop token', () => {
    assert.deepEqual({ ...tok.specialIds }, { bos: 2, eos: 2, pad: 1, unk: 2 });
    assert.equal(tok.tokenToId('Ċ'), 50118);
    assert.equal(tok.tokenToId('<image>'), 50265);
  });

  it('encodes the golden prompts to the ids HF fed the model', () => {
    for (const p of GOLDEN.prompts) assert.deepEqual(tok.encode(p.text), p.input_ids, p.name);
  });

  it('decodes the golden generations like batch_decode(skip_special_tokens=True)', () => {
    let n = 0;
    for (const c of GOLDEN.cases) {
      for (const [name, p] of Object.entries(c.prompts)) {
        for (const g of [p.greedy, p.beam5]) {
          // HF's text is not stripped (it may start with a space); decodeGenerated strips it for display.
          assert.equal(tok.decode(g.sequence, { skipSpecialTokens: true }), g.text, name);
          assert.equal(decodeGenerated(tok, g.sequence), g.text.trim(), name);
          n++;
        }
      }
    }
    assert.ok(n >= 4);
  });

  it('decodeGenerated drops </s> and the trailing newline and cleans up spacing', () => {
    // [</s>, "a", " woman", " sitting", "\n"] and " it 's ." style spacing.
    assert.equal(decodeGenerated(tok, [2, 102, 693, 2828, 50118]), 'a woman sitting');
    const ids = tok.encode(' it \'s a dog .', { addSpecialTokens: false });
    assert.equal(decodeGenerated(tok, ids), "it's a dog.");
    assert.equal(tok.decode(ids, { cleanUpTokenizationSpaces: false }), " it 's a dog .");
  });

  it('decodes ids beyond the tokenizer vocab (LM head rows 50266..50271) to nothing, never throws', () => {
    assert.equal(tok.decode([50270, 50271, 123456, -1]), '');
    assert.equal(tok.decode([]), '');
    assert.equal(decodeGenerated(tok, [2, 102, 50270, 1345]), 'a photo');
    assert.equal(tok.decode([2, 102], { skipSpecialTokens: false }), '</s>a');
    assert.equal(decodeGenerated(tok, [2, 50265, 102]), 'a', '<image> is special: skipped');
  });
});

describe('OPT tokenizer from tokenizer.json', () => {
  let tok: TextTokenizer;
  let tokenizerJson: Record<string, unknown>;
  before(async () => {
    const converted = await convertSlowOptTokenizer(OPT_DIR);
    assert.ok(converted);
    tokenizerJson = converted.tokenizerJson;
    const t = await withTempDir(async (dir) => {
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
      await copyFile(join(OPT_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
      return loadOptTokenizer(dir);
    });
    assert.ok(t);
    tok = t;
  });

  checkCases(() => tok);

  it('prefers tokenizer.json and uses its added tokens as they are (hub checkpoints add <image>)', async () => {
    const withImage = {
      ...tokenizerJson,
      added_tokens: [
        ...(tokenizerJson.added_tokens as object[]),
        { id: 50265, content: '<image>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      ],
    };
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(withImage));
      await writeFile(join(dir, 'vocab.json'), '{ not json'); // ignored: tokenizer.json wins
      await copyFile(join(OPT_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
      const t = await loadOptTokenizer(dir);
      assert.ok(t);
      assert.deepEqual(t.encode('<image>a photo'), [2, 50265, 102, 1345]);
      assert.equal(decodeGenerated(t, [2, 50265, 102, 1345]), 'a photo');
    });
  });
});

describe('OPT tokenizer files missing or broken', () => {
  it('returns null for a folder without tokenizer files', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await loadOptTokenizer(dir), null);
      await copyFile(join(OPT_DIR, 'vocab.json'), join(dir, 'vocab.json')); // no merges.txt: still nothing to build
      assert.equal(await loadOptTokenizer(dir), null);
    });
  });

  it('rejects a corrupt vocab.json with model_invalid naming the file', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'vocab.json'), '{"a": 0, ');
      await copyFile(join(OPT_DIR, 'merges.txt'), join(dir, 'merges.txt'));
      await assert.rejects(loadOptTokenizer(dir), (err: Error) => {
        assert.equal(errorCode(err), 'model_invalid');
        assert.match(err.message, /vocab\.json/);
        return true;
      });
    });
  });

  it('rejects an unreadable or invalid tokenizer.json / tokenizer_config.json with model_invalid', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'tokenizer.json')); // present but unreadable as a file
      await assert.rejects(loadOptTokenizer(dir), (err: Error) => errorCode(err) === 'model_invalid' && /tokenizer\.json/.test(err.message));
    });
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' } }));
      await assert.rejects(loadOptTokenizer(dir), (err: Error) => errorCode(err) === 'model_invalid' && /tokenizer\.json/.test(err.message));
    });
    await withTempDir(async (dir) => {
      await copyFile(join(OPT_DIR, 'vocab.json'), join(dir, 'vocab.json'));
      await copyFile(join(OPT_DIR, 'merges.txt'), join(dir, 'merges.txt'));
      await writeFile(join(dir, 'tokenizer_config.json'), '[1, 2');
      await assert.rejects(loadOptTokenizer(dir), (err: Error) => errorCode(err) === 'model_invalid' && /tokenizer_config\.json/.test(err.message));
    });
  });
});
