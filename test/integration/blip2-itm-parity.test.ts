// Our converted BLIP-2 retrieval model (Blip2ForImageTextRetrieval) against what Hugging Face
// transformers produced for the tiny fixture checkpoint: vision output, query output and ITC image
// embeddings per image, ITC text CLS hidden and embeddings, the similarity matrix and ITM logits.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { Blip2Retrieval, type RetrievalImageEncoding } from '../../src/runtime/blip2/retrieval-model.ts';
import { fixturePath, makeTempDir, maxAbsDiff, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('itm/golden.json');
const TOL = 1e-4;
let dir: string;
let model: Blip2Retrieval;
const encodings = new Map<string, RetrievalImageEncoding>();

const pixels = (image: string) => readF32(`pixel_values/${image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`);
async function encode(image: string): Promise<RetrievalImageEncoding> {
  if (!encodings.has(image)) encodings.set(image, await model.encodePixels(pixels(image)));
  return encodings.get(image)!;
}
function within(key: string, ours: ArrayLike<number>, ref: ArrayLike<number>): void {
  const diff = maxAbsDiff(ours, ref);
  assert.ok(diff <= TOL, `${key}: max abs diff ${diff} > ${TOL}`);
}

before(async () => {
  dir = await makeTempDir();
  const m = await convertCheckpoint(fixturePath('itm'), join(dir, 'model'));
  assert.equal(m.kind, 'blip2-itm');
  assert.deepEqual(Object.keys(m.graphs), ['vision', 'image-embeds', 'text-embeds', 'itm']);
  assert.equal(m.shapes.retrieval?.embedDim, 16);
  assert.equal(m.shapes.retrieval?.vocabRows, 30523);
  assert.ok(m.tokenizer.includes('vocab.txt'));
  model = await Blip2Retrieval.load(join(dir, 'model'));
});
after(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('HF parity: retrieval model (itm fixture)', () => {
  for (const c of golden.per_image) {
    it(`${c.image}: vision output, query output and ITC image embeddings within ${TOL}`, async () => {
      const enc = await encode(c.image);
      within('vision_last_hidden_state', enc.imageEmbeds.data as Float32Array, readF32(c.vision_last_hidden_state.file));
      within('qformer_query_output', enc.queryOutput, readF32(c.qformer_query_output.file));
      within('itc_image_embeds', enc.imageFeatures, readF32(c.itc_image_embeds.file));
      within('imageEmbeds()', await model.imageEmbeds(pixels(c.image)), readF32(c.itc_image_embeds.file));
    });
  }

  it(`ITC text CLS hidden and embeddings (padded batch and one by one) within ${TOL}`, async () => {
    const texts = golden.texts.map((t: any) => t.input_ids as number[]);
    const batch = await model.encodeTexts(texts);
    within('itc_text_cls_hidden', batch.flatMap((t) => [...t.clsHidden]), readF32(golden.itc_text_cls_hidden.file));
    within('itc_text_embeds', batch.flatMap((t) => [...t.embeds]), readF32(golden.itc_text_embeds.file));
    const single = await Promise.all(texts.map((ids: number[]) => model.textEmbeds(ids)));
    within('textEmbeds()', single.flatMap((e) => [...e]), readF32(golden.itc_text_embeds.file));
  });

  it(`ITC similarity (max over queries) within ${TOL}`, async () => {
    const texts = await Promise.all(golden.texts.map((t: any) => model.textEmbeds(t.input_ids)));
    const ours: number[] = [];
    for (const image of golden.images) {
      const img = (await encode(image)).imageFeatures;
      for (const t of texts) ours.push(model.itc(img, t));
    }
    within('logits_per_image', ours, golden.itc_similarity.logits_per_image.flat());
  });

  it(`ITM logits and match probability within ${TOL}`, async () => {
    for (const [i, image] of golden.images.entries()) {
      const enc = await encode(image);
      for (const [j, t] of golden.texts.entries()) {
        const ref = golden.itm.rows_images_cols_texts[i][j];
        const r = await model.itm(enc.imageEmbeds, t.input_ids);
        within(`itm logits ${image} × "${t.text}"`, r.logits, ref.logits);
        assert.ok(Math.abs(r.probMatch - ref.prob_match) <= TOL, `prob_match ${r.probMatch} vs ${ref.prob_match}`);
      }
    }
  });

  it('refuses bad token ids and the captioning loader refuses this folder', async () => {
    await assert.rejects(model.textEmbeds([]), (e: any) => e.code === 'invalid_argument');
    await assert.rejects(model.textEmbeds([101, 30523, 102]), (e: any) => e.code === 'invalid_argument' && /30523/.test(e.message));
    await assert.rejects(Blip2Model.load(join(dir, 'model')), (e: any) => e.code === 'model_invalid' && /blip2-itm/.test(e.message));
  });
});
