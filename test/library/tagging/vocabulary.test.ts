// The shipped tag vocabulary is well-formed, a broken file is reported naming it, and the user's own
// entries (catalog table `vocabulary`) merge with it: theirs win on a clash, the hash follows changes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../../src/library/catalog/catalog.ts';
import {
  SHIPPED_VOCABULARY_FILE, TAG_CATEGORIES, addVocabularyEntry, loadShippedVocabulary, loadVocabulary, makeVocabulary,
  parseVocabulary, removeVocabularyEntry, userVocabulary,
} from '../../../src/library/tagging/vocabulary.ts';
import { makeTempDir } from '../../helpers/fixtures.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

describe('shipped vocabulary (assets/tags/vocabulary.json)', () => {
  const raw = JSON.parse(readFileSync(SHIPPED_VOCABULARY_FILE, 'utf8')) as { label: string; prompt: string; category: string }[];

  it('has 900–1200 entries with unique, lowercase, readable labels and natural prompts', () => {
    assert.ok(raw.length >= 900 && raw.length <= 1200, `${raw.length} entries`);
    const labels = new Set<string>();
    for (const e of raw) {
      assert.deepEqual(Object.keys(e).sort(), ['category', 'label', 'prompt'], JSON.stringify(e));
      assert.match(e.label, /^[a-z0-9][a-z0-9 '-]*[a-z0-9']$/, `label "${e.label}"`);
      assert.ok(!/^(a|an|the) /.test(e.label), `label "${e.label}" starts with an article`);
      assert.ok(!labels.has(e.label.toLowerCase()), `duplicate label "${e.label}"`);
      labels.add(e.label.toLowerCase());
      assert.ok(e.prompt.trim() === e.prompt && e.prompt.length > e.label.length / 2, `prompt of "${e.label}"`);
      assert.match(e.prompt, /^(a|an) /, `prompt "${e.prompt}" reads "a photo of …" or similar`);
      assert.ok(e.prompt.split(' ').length <= 16, `prompt "${e.prompt}" fits the Q-Former's 32 tokens`);
      assert.ok((TAG_CATEGORIES as readonly string[]).includes(e.category) && e.category !== 'custom', `category of "${e.label}"`);
    }
  });

  it('covers every category with a fair share', () => {
    for (const c of TAG_CATEGORIES.filter((x) => x !== 'custom')) {
      const n = raw.filter((e) => e.category === c).length;
      assert.ok(n >= 40, `${c}: ${n} entries`);
    }
    for (const must of ['golden retriever', 'beach', 'birthday party', 'black and white photo', 'macro photo', 'panorama', 'screenshot', 'document']) {
      assert.ok(raw.some((e) => e.label === must), must);
    }
  });

  it('loads validated and cached', () => {
    const v = loadShippedVocabulary();
    assert.equal(v.length, raw.length);
    assert.equal(loadShippedVocabulary(), v, 'read once');
    assert.ok(v.every((e) => e.source === 'shipped'));
  });
});

describe('vocabulary files that are broken', () => {
  const cases: [string, string, RegExp][] = [
    ['not json', '[{"label": "dog",', /not valid JSON/],
    ['empty', '[]', /invalid at the top level/],
    ['bad category', '[{"label": "dog", "prompt": "a photo of a dog", "category": "pets"}]', /invalid at 0\.category/],
    ['empty prompt', '[{"label": "dog", "prompt": " ", "category": "animal"}]', /invalid at 0\.prompt/],
    ['unknown key', '[{"label": "dog", "prompt": "a dog", "category": "animal", "extra": 1}]', /invalid at 0/],
    ['duplicate', '[{"label": "Dog", "prompt": "a dog", "category": "animal"}, {"label": "dog ", "prompt": "a dog", "category": "animal"}]', /lists "dog" twice/],
  ];
  for (const [name, text, message] of cases) {
    it(`${name}: an error naming the file`, async () => {
      const file = join(dir, `${name.replace(/ /g, '-')}.json`);
      await writeFile(file, text);
      assert.throws(() => loadShippedVocabulary(file), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'invalid_argument');
        assert.match(err.message, message);
        assert.ok(err.message.includes(file), err.message);
        return true;
      });
    });
  }
  it('a missing file is an io_error naming it', () => {
    assert.throws(() => loadShippedVocabulary(join(dir, 'nope.json')), /cannot read the tag vocabulary.*nope\.json/);
  });
});

describe("the user's own vocabulary", () => {
  it('adds, lists, replaces and removes entries; merged with the shipped list, theirs first on a clash', () => {
    const cat = Catalog.open(join(dir, 'v.db'));
    const base = loadVocabulary(cat);
    assert.equal(base.entries.length, loadShippedVocabulary().length);

    assert.deepEqual(addVocabularyEntry(cat, { label: '  Grandma’s  garden ' }), {
      label: 'Grandma’s garden', prompt: 'a photo of Grandma’s garden', category: 'custom', source: 'user',
    });
    addVocabularyEntry(cat, { label: 'Golden Retriever', prompt: 'a photo of our dog Rex, a golden retriever', category: 'animal' });
    assert.deepEqual(userVocabulary(cat).map((e) => e.label), ['Golden Retriever', 'Grandma’s garden']);

    const merged = loadVocabulary(cat);
    assert.equal(merged.entries.length, base.entries.length + 1, 'the clash replaces, the new label is appended');
    const gr = merged.entries.filter((e) => e.label.toLowerCase() === 'golden retriever');
    assert.equal(gr.length, 1);
    assert.equal(gr[0].prompt, 'a photo of our dog Rex, a golden retriever');
    assert.equal(merged.entries.at(-1)!.label, 'Grandma’s garden');
    assert.notEqual(merged.hash, base.hash);

    addVocabularyEntry(cat, { label: 'grandma’s garden', prompt: 'a photo of a cottage garden', category: 'scene' });
    assert.deepEqual(userVocabulary(cat).find((e) => e.label === 'grandma’s garden')?.category, 'scene');
    assert.equal(userVocabulary(cat).length, 2, 'same label, case-insensitively: replaced');

    assert.equal(removeVocabularyEntry(cat, 'GRANDMA’S GARDEN'), true);
    assert.equal(removeVocabularyEntry(cat, 'grandma’s garden'), false);
    assert.equal(removeVocabularyEntry(cat, 'golden retriever'), true);
    assert.equal(loadVocabulary(cat).hash, base.hash, 'back to the shipped list');

    assert.throws(() => addVocabularyEntry(cat, { label: '   ' }), /label is empty/);
    assert.throws(() => addVocabularyEntry(cat, { label: 'x'.repeat(65) }), /at most 64/);
    assert.throws(() => addVocabularyEntry(cat, { label: 'x', category: 'pets' as never }), /unknown tag category/);
    cat.close();
  });

  it('the hash ignores order and label case but not prompts', () => {
    const e = (label: string, prompt = `a photo of ${label}`) => ({ label, prompt, category: 'object' as const, source: 'shipped' as const });
    assert.equal(makeVocabulary([e('a'), e('b')]).hash, makeVocabulary([e('B', 'a photo of b'), e('a')]).hash);
    assert.notEqual(makeVocabulary([e('a'), e('b')]).hash, makeVocabulary([e('a'), e('b', 'a photo of bees')]).hash);
    assert.throws(() => parseVocabulary('{}', 'x.json'), /x\.json/);
  });
});
