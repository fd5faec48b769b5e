// Q-Former BERT tokenizer against HF's BertTokenizer cases (itm/tokenizer_bert.json) and the ids in
// itm/golden.json, through both loading paths: vocab.txt converted in memory, and a tokenizer.json.
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { errorCode } from '../../src/shared/errors.ts';
import { convertSlowBertTokenizer, loadBertTokenizer, type BertTokenizer } from '../../src/runtime/bert-tokenizer.ts';
import { fixturePath, readJson, withTempDir } from '../helpers/fixtures.ts';
import { readFileSync } from 'node:fs';

interface TokCase { text: string; input_ids: number[]; tokens: string[] }
interface GoldenText { text: string; input_ids: number[]; padded_input_ids: number[]; attention_mask: number[] }

const ITM_DIR = fixturePath('itm');
const CASES = readJson<{ cases: TokCase[] }>('itm/tokenizer_bert.json').cases;
const TEXTS = readJson<{ texts: GoldenText[] }>('itm/golden.json').texts;

function checkCases(getTok: () => BertTokenizer) {
  for (const c of CASES) {
    it(`matches HF for ${JSON.stringify(c.text.slice(0, 50))}`, () => {
      const { ids, attentionMask } = getTok().encode(c.text);
      assert.deepEqual(ids, c.input_ids);
      assert.deepEqual(attentionMask, c.input_ids.map(() => 1));
    });
  }
  it('matches the ids of itm/golden.json texts, padded like the batch', () => {
    const padTo = Math.max(...TEXTS.map((t) => t.input_ids.length));
    for (const t of TEXTS) {
      assert.deepEqual(getTok().encode(t.text).ids, t.input_ids);
      const padded = getTok().encode(t.text, { padTo });
      assert.deepEqual(padded.ids, t.padded_input_ids);
      assert.deepEqual(padded.attentionMask, t.attention_mask);
    }
  });
}

describe('BERT tokenizer from vocab.txt + tokenizer_config.json', () => {
  let tok: BertTokenizer;
  before(async () => {
    const t = await loadBertTokenizer(ITM_DIR);
    assert.ok(t);
    tok = t;
  });
  checkCases(() => tok);

  it('includes the long case and truncates to 32 keeping [SEP]', () => {
    const long = CASES.find((c) => c.input_ids.length === 32);
    assert.ok(long, 'fixture has a truncated case');
    const ids = tok.encode(long.text).ids;
    assert.equal(ids.length, 32);
    assert.equal(ids[31], tok.specialIds.sep);
    const short = tok.encode(long.text, { maxLength: 5 }).ids;
    assert.deepEqual(short, [...long.input_ids.slice(0, 4), tok.specialIds.sep]);
    assert.ok(tok.encode(long.text, { maxLength: 512 }).ids.length > 32);
  });

  it('knows [DEC] as id 30522 and the specials', () => {
    assert.equal(tok.tokenToId('[DEC]'), 30522);
    assert.deepEqual({ ...tok.specialIds }, { cls: 101, sep: 102, pad: 0, unk: 100, bos: 30522 });
  });

  it('rejects a maxLength without room for the specials', () => {
    assert.throws(() => tok.encode('x', { maxLength: 1 }), (e) => errorCode(e) === 'invalid_argument');
  });
});

describe('BERT tokenizer from tokenizer.json', () => {
  let tok: BertTokenizer;
  before(async () => {
    await withTempDir(async (dir) => {
      const config = JSON.parse(readFileSync(join(ITM_DIR, 'tokenizer_config.json'), 'utf8'));
      const json = convertSlowBertTokenizer(readFileSync(join(ITM_DIR, 'vocab.txt'), 'utf8'), config);
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json));
      await copyFile(join(ITM_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
      const t = await loadBertTokenizer(dir);
      assert.ok(t);
      tok = t;
    });
  });
  checkCases(() => tok);
});

describe('BERT tokenizer without files', () => {
  it('returns null', async () => {
    await withTempDir(async (dir) => assert.equal(await loadBertTokenizer(dir), null));
  });
});
