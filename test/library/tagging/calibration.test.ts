// The calibration method (src/library/tagging/calibration.ts) on synthetic photos with planted labels
// and hub labels: calibrated thresholds recover the planted labels with high precision and recall
// where the uncalibrated rule drowns in hubs; the result does not depend on a model's score offset or
// spread (the reason to calibrate); it is persisted per model in the catalog.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../../src/library/catalog/catalog.ts';
import {
  DEFAULT_THRESHOLD, type TagCalibration, calibrate, calibrateScores, calibrationKey, loadCalibration, photoZScores, robust,
  saveCalibration, similarities, stack,
} from '../../../src/library/tagging/calibration.ts';
import { Tagger } from '../../../src/library/tagging/tagger.ts';
import { makeVocabulary } from '../../../src/library/tagging/vocabulary.ts';
import { makeTempDir } from '../../helpers/fixtures.ts';
import { type Planted, planted, rng } from './synthetic.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

function setup(P: Planted) {
  const vocab = makeVocabulary(P.labels.map((_, t) => ({ label: `label ${t}`, prompt: `prompt ${t}`, category: 'object' as const, source: 'shipped' as const })));
  const prompts = vocab.entries.map((e) => e.prompt);
  const r = rng(99);
  const calibration = Array.from({ length: 300 }, () => P.photo(r));
  const test = Array.from({ length: 200 }, () => P.photo(r));
  const matrix = stack(P.labels, P.dim);
  const raw = (f: Float32Array) => similarities(f, matrix, P.dim);
  return { vocab, prompts, calibration, test, raw };
}

function evaluate(P: Planted, tagger: Tagger, photos: { features: Float32Array; truth: Set<number> }[], transform = (s: Float32Array) => s) {
  let tp = 0, fp = 0, fn = 0, hubs = 0;
  const labels: string[][] = [];
  for (const p of photos) {
    const hits = tagger.assignScores(transform(tagger.similarities(p.features)), { minimum: 0 });
    labels.push(hits.map((h) => h.label));
    const ids = hits.map((h) => Number(h.label.split(' ')[1]));
    for (const t of ids) {
      if (p.truth.has(t)) tp++;
      else if (++fp && P.hubs.has(t)) hubs++;
    }
    for (const t of p.truth) if (!ids.includes(t)) fn++;
  }
  return { precision: tp / (tp + fp), recall: tp / (tp + fn), hubs, labels };
}

describe('tag calibration', () => {
  for (const shape of [{ dim: 64, queries: 8, labels: 150 }, { dim: 128, queries: 32, labels: 400 }]) {
    it(`recovers planted labels and ignores hub labels (${shape.queries} × ${shape.dim}, ${shape.labels} labels)`, () => {
      const P = planted({ seed: 7, ...shape });
      const { vocab, prompts, calibration, test } = setup(P);
      const c = calibrate(calibration.map((p) => p.features), P.labels, prompts, { modelId: 'm', vocabularyHash: vocab.hash });
      assert.equal(c.images, 300);
      const plain = evaluate(P, new Tagger(vocab, 'm', P.labels), test);
      const tuned = evaluate(P, new Tagger(vocab, 'm', P.labels, {}, c), test);
      assert.ok(plain.hubs > test.length, `uncalibrated, hub labels fire on most photos (${plain.hubs})`);
      assert.ok(plain.precision < 0.5, `uncalibrated precision ${plain.precision}`);
      assert.ok(tuned.precision >= 0.95, `calibrated precision ${tuned.precision}`);
      assert.ok(tuned.recall >= 0.9, `calibrated recall ${tuned.recall}`);
      assert.ok(tuned.hubs <= 2, `hubs after calibration: ${tuned.hubs}`);
      for (const h of P.hubs) assert.ok(c.prompts[`prompt ${h}`][0] > 2, `hub ${h} has a high typical level μ`);
    });
  }

  it('is invariant to a constant offset (and a positive scale) of every score, unlike a fixed threshold', () => {
    const P = planted({ seed: 11 });
    const { vocab, prompts, calibration, test, raw } = setup(P);
    const rows = calibration.map((p) => raw(p.features));
    const affine = (a: number, b: number) => (s: Float32Array) => s.map((x) => a + b * x);
    const results = [[0, 1], [0.3, 1], [-0.2, 1], [0.1, 2.5]].map(([a, b]) => {
      const f = affine(a, b);
      const c = calibrateScores(rows.map(f), prompts, { modelId: 'm', vocabularyHash: vocab.hash });
      return { c, tagged: evaluate(P, new Tagger(vocab, 'm', P.labels, {}, c), test, f).labels };
    });
    for (const r of results.slice(1)) {
      assert.deepEqual(r.tagged, results[0].tagged);
      assert.ok(Math.abs(r.c.threshold - results[0].c.threshold) < 1e-3, `threshold ${r.c.threshold} vs ${results[0].c.threshold}`);
      for (const p of prompts) {
        assert.ok(Math.abs(r.c.prompts[p][0] - results[0].c.prompts[p][0]) < 2e-3, `μ of ${p}`);
        assert.ok(Math.abs(r.c.prompts[p][1] - results[0].c.prompts[p][1]) < 2e-3, `σ of ${p}`);
      }
    }
    // The same offset breaks any absolute threshold: 0.45 is a fine cut for one model, useless for the other.
    const absolute = (offset: number) => test.reduce((n, p) => n + raw(p.features).filter((s) => s + offset >= 0.45).length, 0);
    assert.ok(absolute(0.3) > 5 * absolute(0), `${absolute(0.3)} vs ${absolute(0)} labels past 0.45`);
  });

  it('photo z-scores are robust standard scores', () => {
    assert.deepEqual(robust([1, 2, 3, 4, 100]), { center: 3, spread: 1.4826 });
    const z = photoZScores(Float32Array.from([1, 2, 3, 4, 100]));
    assert.ok(Math.abs(z[4] - 97 / 1.4826) < 1e-3);
    assert.equal(z[2], 0);
  });

  it('a few calibration photos move the prior only a little; none leaves it as it is', () => {
    const P = planted({ seed: 3 });
    const { vocab, prompts, calibration } = setup(P);
    const none = calibrate([], P.labels, prompts, { modelId: 'm', vocabularyHash: vocab.hash });
    assert.equal(none.threshold, DEFAULT_THRESHOLD);
    assert.ok(Object.values(none.prompts).every(([mu, sigma]) => mu === 0 && sigma === 1));
    const few = calibrate(calibration.slice(0, 2).map((p) => p.features), P.labels, prompts, { modelId: 'm', vocabularyHash: vocab.hash });
    const many = calibrate(calibration.map((p) => p.features), P.labels, prompts, { modelId: 'm', vocabularyHash: vocab.hash });
    const hub = `prompt ${[...P.hubs][1]}`;
    assert.ok(few.prompts[hub][0] < many.prompts[hub][0] / 3, `${few.prompts[hub][0]} vs ${many.prompts[hub][0]}`);
    assert.throws(() => calibrateScores([new Float32Array(3)], prompts, { modelId: 'm', vocabularyHash: '' }), /3 values for 150 prompts/);
  });

  it('is stored per model in the catalog settings', () => {
    const cat = Catalog.open(join(dir, 'c.db'));
    const c: TagCalibration = {
      version: 1, modelId: 'itm:int8:2024', vocabularyHash: 'abc', images: 3, createdAt: 1, threshold: 4.2, falseTagsPerPhoto: 0.25, prompts: { 'a photo of a dog': [0.5, 1.1] },
    };
    saveCalibration(cat, c);
    assert.deepEqual(loadCalibration(cat, 'itm:int8:2024'), c);
    assert.equal(loadCalibration(cat, 'other'), undefined);
    assert.deepEqual(cat.getSetting(calibrationKey('itm:int8:2024')), c);
    cat.setSetting(calibrationKey('old'), { version: 0 });
    assert.equal(loadCalibration(cat, 'old'), undefined, 'an unknown shape is ignored, not trusted');
    cat.close();
  });
});
