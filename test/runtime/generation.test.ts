// Generation engine against references: a fake DecoderStepper whose logits are a pure function of each
// row's full token history, and which rebuilds those histories from `parents` itself, so any beam
// reordering mistake shows up as wrong logits. Greedy is checked against a plain loop, beam search
// against exhaustive enumeration (beams wide enough to be exact) and hand-computed cases, processors
// and warpers on handcrafted scores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/runtime/generation/generate.ts';
import type { DecoderStepper, GenerationOptions } from '../../src/runtime/generation/types.ts';
import {
  MinNewTokensLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
} from '../../src/runtime/generation/logits-processors.ts';
import { TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper } from '../../src/runtime/generation/logits-warpers.ts';
import { EosTokenCriterion, MaxNewTokensCriterion, StoppingCriteriaList } from '../../src/runtime/generation/stopping-criteria.ts';
import { createRng } from '../../src/runtime/generation/rng.ts';
import { sampleIndex } from '../../src/runtime/generation/score-ops.ts';

type LogitsFn = (history: readonly number[]) => ArrayLike<number>;

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
/** Seeded hash of the history → logits in [-spread/2, spread/2]. */
function hashLogits(seed: number, vocab: number, spread = 6): LogitsFn {
  return (history) => {
    let h = fmix(seed ^ 0x9e3779b9);
    for (const t of history) h = fmix(h ^ Math.imul(t + 1, 0x27d4eb2d));
    return Array.from({ length: vocab }, (_, i) => (fmix(h + Math.imul(i + 1, 0x165667b1)) / 2 ** 32 - 0.5) * spread);
  };
}
/** Logits = log of explicit probabilities, so log_softmax gives back log p. */
const fromProbs = (probs: (history: readonly number[]) => number[]): LogitsFn => (h) => probs(h).map(Math.log);

function makeFake(logitsFor: LogitsFn, vocabSize: number, opts: { eos?: number[]; maxRows?: number } = {}) {
  const state = { rows: null as number[][] | null, prefills: 0, nexts: 0, histories: new Set<string>(['']) };
  const logitsOf = (history: readonly number[]) => {
    const l = logitsFor(history);
    assert.equal(l.length, vocabSize);
    return l;
  };
  const stepper = {
    vocabSize,
    async prefill(): Promise<Float32Array> {
      assert.equal(state.rows, null, 'prefill runs once, first');
      state.prefills++;
      state.rows = [[]];
      return Float32Array.from(logitsOf([]));
    },
    async next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array> {
      const rows = state.rows;
      assert.ok(rows, 'next() before prefill()');
      assert.equal(tokens.length, parents.length);
      assert.ok(tokens.length >= 1 && tokens.length <= (opts.maxRows ?? 1), `row count ${tokens.length}`);
      for (const p of parents) assert.ok(Number.isInteger(p) && p >= 0 && p < rows.length, `parent ${p} of ${rows.length} rows`);
      for (const t of tokens) {
        assert.ok(Number.isInteger(t) && t >= 0 && t < vocabSize, `token ${t}`);
        assert.ok(!opts.eos?.includes(t), 'an eos token is never fed back');
      }
      state.nexts++;
      state.rows = parents.map((p, i) => [...rows[p], tokens[i]]);
      const out = new Float32Array(tokens.length * vocabSize);
      state.rows.forEach((h, r) => {
        state.histories.add(h.join(','));
        out.set(logitsOf(h), r * vocabSize);
      });
      return out;
    },
  } satisfies DecoderStepper;
  return { stepper, state };
}

function logSoftmax(x: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(x));
  const lse = max + Math.log(Array.from(x).reduce((s, v) => s + Math.exp(v - max), 0));
  return Array.from(x, (v) => v - lse);
}
const argmaxOf = (x: ArrayLike<number>) => Array.from(x).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);
/** Always pass a message: a bare failing assert.ok makes Node re-parse this TS file and can stall for minutes. */
function assertClose(actual: number | undefined, expected: number, tolerance: number, label = ''): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < tolerance, `${label} ${actual} ≉ ${expected}`);
}

function referenceGreedy(logitsFor: LogitsFn, eos: number[], maxNew: number): number[] {
  const out: number[] = [];
  while (out.length < maxNew) {
    out.push(argmaxOf(logitsFor(out)));
    if (eos.includes(out[out.length - 1])) break;
  }
  return out;
}

/** Every finished sequence (eos, or maxNew tokens): the best sum_logprobs / len ** lp. */
function bruteForceBest(
  logitsFor: LogitsFn, vocab: number, eos: number[], maxNew: number, lp: number,
  process?: (history: readonly number[], logprobs: number[]) => void,
) {
  let best = { score: -Infinity, tokens: [] as number[] };
  const visit = (history: number[], sum: number) => {
    const logprobs = logSoftmax(logitsFor(history));
    process?.(history, logprobs);
    for (let t = 0; t < vocab; t++) {
      const s = sum + logprobs[t];
      if (s === -Infinity) continue;
      const tokens = [...history, t];
      if (eos.includes(t) || tokens.length === maxNew) {
        const score = s / tokens.length ** lp;
        if (score > best.score) best = { score, tokens };
      } else visit(tokens, s);
    }
  };
  visit([], 0);
  return best;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

test('greedy equals a plain argmax loop and stops at eos or maxNewTokens', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const fn = hashLogits(seed, 12, 3);
    const { stepper, state } = makeFake(fn, 12, { eos: [0] });
    const streamed: number[] = [];
    const r = await generate(stepper, { eosTokenId: 0, maxNewTokens: 15, onToken: (t) => streamed.push(t) });
    const ref = referenceGreedy(fn, [0], 15);
    assert.deepEqual(r.tokenIds, ref);
    assert.deepEqual(streamed, ref);
    assert.equal(r.endedWithEos, ref[ref.length - 1] === 0);
    assert.equal(state.nexts, ref.length - 1, 'no model step after the last token');
    assert.equal(r.score, undefined);
  }
});

test('greedy ties pick the lowest index; no eos means maxNewTokens', async () => {
  const { stepper } = makeFake(() => [1, 5, 5, 2], 4);
  assert.deepEqual((await generate(stepper, { maxNewTokens: 3 })).tokenIds, [1, 1, 1]);
});

test('beam search equals exhaustive search when the beams are wide enough', async () => {
  // Exact when every real candidate of every step fits in the beams: numBeams ≥ V·(V-1)^(L-1).
  const cases: Array<{ vocab: number; maxNew: number; beams: number; lp: number; es: GenerationOptions['earlyStopping'] }> = [
    { vocab: 5, maxNew: 3, beams: 80, lp: 0, es: false },
    { vocab: 5, maxNew: 3, beams: 80, lp: 1, es: 'never' },
    { vocab: 4, maxNew: 4, beams: 108, lp: 2, es: 'never' },
    { vocab: 4, maxNew: 4, beams: 108, lp: -0.5, es: 'never' },
    { vocab: 12, maxNew: 2, beams: 132, lp: 1, es: 'never' },
  ];
  for (const c of cases) {
    for (let seed = 1; seed <= 6; seed++) {
      const fn = hashLogits(seed * 7 + c.vocab, c.vocab, 5);
      const { stepper, state } = makeFake(fn, c.vocab, { eos: [0], maxRows: c.beams });
      const r = await generate(stepper, { numBeams: c.beams, eosTokenId: 0, maxNewTokens: c.maxNew, lengthPenalty: c.lp, earlyStopping: c.es });
      const ref = bruteForceBest(fn, c.vocab, [0], c.maxNew, c.lp);
      assert.deepEqual(r.tokenIds, ref.tokens, JSON.stringify({ ...c, seed }));
      assertClose(r.score, ref.score, 1e-4, `${r.score} vs ${ref.score}`);
      assert.equal(r.endedWithEos, ref.tokens[ref.tokens.length - 1] === 0);
      assert.ok(state.histories.has(r.tokenIds.slice(0, -1).join(',')), 'the result is a history the model saw');
    }
  }
});

test('beam search with processors equals exhaustive search with the same processors', async () => {
  const fn = hashLogits(99, 5, 5);
  const minNew = 2;
  const penalty = 1.7;
  const process = (history: readonly number[], lp: number[]) => {
    for (const t of new Set(history)) lp[t] = lp[t] < 0 ? lp[t] * penalty : lp[t] / penalty;
    if (history.length < minNew) lp[0] = -Infinity;
  };
  const { stepper } = makeFake(fn, 5, { eos: [0], maxRows: 80 });
  const r = await generate(stepper, {
    numBeams: 80, eosTokenId: 0, maxNewTokens: 3, earlyStopping: 'never', repetitionPenalty: penalty, minNewTokens: minNew,
  });
  const ref = bruteForceBest(fn, 5, [0], 3, 1, process);
  assert.deepEqual(r.tokenIds, ref.tokens);
  assertClose(r.score, ref.score, 1e-4);
});

test('narrow beams: the reported score is the true normalised log-probability of the returned tokens', async () => {
  for (let seed = 1; seed <= 25; seed++) {
    const fn = hashLogits(seed, 12, 4);
    const beams = 2 + (seed % 4);
    const lp = [1, 0, 2, -1][seed % 4];
    const { stepper } = makeFake(fn, 12, { eos: [0, 11], maxRows: beams });
    const streamed: number[] = [];
    const r = await generate(stepper, { numBeams: beams, eosTokenId: [0, 11], maxNewTokens: 9, lengthPenalty: lp, onToken: (t) => streamed.push(t) });
    let sum = 0;
    r.tokenIds.forEach((t, i) => (sum += logSoftmax(fn(r.tokenIds.slice(0, i)))[t]));
    assertClose(r.score, sum / r.tokenIds.length ** lp, 1e-4, `seed ${seed}`);
    assert.deepEqual(streamed, r.tokenIds);
    assert.equal(r.endedWithEos, [0, 11].includes(r.tokenIds[r.tokenIds.length - 1]), `seed ${seed}`);
    assert.ok(r.endedWithEos || r.tokenIds.length === 9, `seed ${seed}: stopped early without eos`);
  }
});

test('length penalty, hand-checked (eos 0, A 1, B 2; 2 beams, 2 tokens)', async () => {
  const probs = (h: readonly number[]) => (h.length === 0 ? [0.4, 0.35, 0.25] : h[0] === 1 ? [0.9, 0.05, 0.05] : [0.6, 0.3, 0.1]);
  const run = async (lengthPenalty: number) => {
    const { stepper } = makeFake(fromProbs(probs), 3, { eos: [0], maxRows: 2 });
    return generate(stepper, { numBeams: 2, eosTokenId: 0, maxNewTokens: 2, lengthPenalty });
  };
  // Finished: [eos] ln .4; [A eos] (ln .35 + ln .9)/2^lp; [B eos] (ln .25 + ln .6)/2^lp.
  const r1 = await run(1);
  assert.deepEqual(r1.tokenIds, [1, 0]);
  assertClose(r1.score, (Math.log(0.35) + Math.log(0.9)) / 2, 1e-6);
  for (const lp of [0, -1]) {
    const r = await run(lp);
    assert.deepEqual(r.tokenIds, [0]);
    assertClose(r.score, Math.log(0.4), 1e-6);
  }
  assertClose((await run(2)).score, (Math.log(0.35) + Math.log(0.9)) / 4, 1e-6);
});

test('early stopping true / false / never, hand-checked (eos 0 and 1, A 2, B 3)', async () => {
  // Two eos hypotheses fill the 2 slots at step 1; the A-branch only pays off at full length.
  const probs = (h: readonly number[]) => (h.length === 0 ? [0.5, 0.4, 0.06, 0.04] : h[0] === 2 ? [0.01, 0.005, 0.98, 0.005] : [0.25, 0.25, 0.25, 0.25]);
  const run = async (earlyStopping: GenerationOptions['earlyStopping']) => {
    const fake = makeFake(fromProbs(probs), 4, { eos: [0, 1], maxRows: 2 });
    const r = await generate(fake.stepper, { numBeams: 2, eosTokenId: [0, 1], maxNewTokens: 10, earlyStopping });
    return { r, nexts: fake.state.nexts };
  };
  const t = await run(true); // done as soon as 2 hypotheses exist (step 1)
  assert.deepEqual([t.r.tokenIds, t.nexts], [[0], 0]);
  const f = await run(false); // step 2: worst ln .4 ≥ best running (ln .06 + ln .98) / 2
  assert.deepEqual([f.r.tokenIds, f.nexts], [[0], 1]);
  assertClose(f.r.score, Math.log(0.5), 1e-6);
  const n = await run('never'); // bound uses max length 10: keeps going, A^10 wins
  assert.deepEqual([n.r.tokenIds, n.nexts, n.r.endedWithEos], [Array(10).fill(2), 9, false]);
  assertClose(n.r.score, (Math.log(0.06) + 9 * Math.log(0.98)) / 10, 1e-6);
});

test('early stopping false stops on equality (worst ≥ bound); hypothesis ties go to the last added', async () => {
  // Step 2: [A eos] (ln .3 + ln .5)/2 is both the new worst hypothesis and the best candidate / 2: done.
  const probs = (h: readonly number[]) =>
    h.length === 0 ? [0.5, 0.3, 0.2] : h.join() === '1' ? [0.5, 0.45, 0.05] : h.join() === '1,1' ? [0.99, 0.005, 0.005] : [0.4, 0.3, 0.3];
  const run = async (earlyStopping: GenerationOptions['earlyStopping']) => {
    const fake = makeFake(fromProbs(probs), 3, { eos: [0], maxRows: 2 });
    const r = await generate(fake.stepper, { numBeams: 2, eosTokenId: 0, maxNewTokens: 3, earlyStopping });
    return [r.tokenIds, fake.state.nexts];
  };
  assert.deepEqual(await run(false), [[0], 1]);
  assert.deepEqual(await run('never'), [[1, 1, 0], 2]); // (ln .3 + ln .45 + ln .99)/3 > ln .5
  // A and B tie exactly; HF sorts hypotheses stably by score and pops the last: B.
  const tie = makeFake(fromProbs(() => [0.2, 0.4, 0.4]), 3, { eos: [0], maxRows: 2 });
  assert.deepEqual((await generate(tie.stepper, { numBeams: 2, eosTokenId: 0, maxNewTokens: 1 })).tokenIds, [2]);
});

test('an eos ranked ≥ numBeams is dropped; candidates after the beams are full are never reached', async () => {
  // eos 0 and 1, A 2, B 3, C 4. Step 1 ranks: eos0 .3 (hypothesis), A .28, eos1 .2 (rank 2: dropped), B .15.
  // Were eos1 kept, 2 hypotheses would end an earlyStopping=true search at once with [eos0].
  const probs = (h: readonly number[]) =>
    h.length === 0 ? [0.3, 0.2, 0.28, 0.15, 0.07] : h[0] === 2 ? [0.9, 0.02, 0.03, 0.03, 0.02] : [0.2, 0.2, 0.2, 0.2, 0.2];
  const fake = makeFake(fromProbs(probs), 5, { eos: [0, 1], maxRows: 2 });
  const r = await generate(fake.stepper, { numBeams: 2, eosTokenId: [0, 1], maxNewTokens: 2, lengthPenalty: 2, earlyStopping: true });
  assert.deepEqual([r.tokenIds, r.endedWithEos, fake.state.nexts], [[2, 0], true, 1]);
  assertClose(r.score, Math.log(0.28 * 0.9) / 4, 1e-6);
  // Step 1: A .5, B .29 fill both beams before eos .17 (rank 2) is looked at. Best: A then B (.5·.33).
  const probs2 = (h: readonly number[]) => (h.length === 0 ? [0.17, 0.5, 0.29, 0.04] : h[0] === 1 ? [0.04, 0.31, 0.33, 0.32] : [0.25, 0.25, 0.25, 0.25]);
  const r2 = await generate(makeFake(fromProbs(probs2), 4, { eos: [0], maxRows: 2 }).stepper, { numBeams: 2, eosTokenId: 0, maxNewTokens: 2, lengthPenalty: 0 });
  assert.deepEqual([r2.tokenIds, r2.endedWithEos], [[1, 2], false]);
  assertClose(r2.score, Math.log(0.5 * 0.33), 1e-6);
});

test('minNewTokens blocks eos in greedy decoding', async () => {
  const fn = fromProbs(() => [0.7, 0.2, 0.1]);
  const { stepper } = makeFake(fn, 3, { eos: [0] });
  const r = await generate(stepper, { eosTokenId: 0, minNewTokens: 3, maxNewTokens: 10 });
  assert.deepEqual([r.tokenIds, r.endedWithEos], [[1, 1, 1, 0], true]);
  const scores = Float32Array.from([1, 2, 3, 4, 5, 6]);
  new MinNewTokensLogitsProcessor(2, [2]).process([[7], [7, 8]], scores);
  assert.deepEqual(Array.from(scores), [1, 2, -Infinity, 4, 5, 6]);
});

test('repetition penalty divides positive scores, multiplies negative ones, once per distinct token', () => {
  const scores = Float32Array.from([2, -2, 1, 0.5, 0, 3]);
  new RepetitionPenaltyLogitsProcessor(2).process([[0, 1, 1], [1, 2, 2]], scores); // rows of 3
  assert.deepEqual(Array.from(scores), [1, -4, 1, 0.5, 0, 1.5]);
});

test('no-repeat-ngram bans exactly the token that would repeat an n-gram, per row', () => {
  const s = new Float32Array(2 * 5);
  new NoRepeatNGramLogitsProcessor(3).process([[1, 2, 3, 1, 2], [1, 2, 3, 1, 4]], s);
  assert.deepEqual(Array.from(s), [0, 0, 0, -Infinity, 0, 0, 0, 0, 0, 0]);
  const t = new Float32Array(5);
  new NoRepeatNGramLogitsProcessor(2).process([[2, 3, 2, 4, 2]], t); // after 2 came 3 and 4
  assert.deepEqual(Array.from(t), [0, 0, 0, -Infinity, -Infinity]);
  const u = new Float32Array(5);
  new NoRepeatNGramLogitsProcessor(4).process([[1, 1]], u); // too short to ban anything
  assert.deepEqual(Array.from(u), [0, 0, 0, 0, 0]);
});

test('greedy with noRepeatNgramSize never repeats a bigram', async () => {
  const fn: LogitsFn = (h) => [0, 1, 2, 3, 4, 5].map((t) => (t === (h[h.length - 1] ?? 0) ? 5 : t * 0.1));
  const { stepper } = makeFake(fn, 6);
  const r = await generate(stepper, { maxNewTokens: 12, noRepeatNgramSize: 2 });
  const bigrams = r.tokenIds.slice(1).map((t, i) => `${r.tokenIds[i]},${t}`);
  assert.equal(new Set(bigrams).size, bigrams.length);
  assert.deepEqual(r.tokenIds.slice(0, 3), [0, 0, 5]);
});

test('historyPrefix: the penalty and n-gram ban see the decoder start token, nothing else does (HF encoder-decoder)', async () => {
  const fn: LogitsFn = () => [3, 2.5, 0, 0];
  const plain = await generate(makeFake(fn, 4).stepper, { maxNewTokens: 3, repetitionPenalty: 1.5 });
  assert.deepEqual(plain.tokenIds, [0, 1, 0]); // 0 (3) until penalised to 2, then 1 (2.5), then 0 (2 > 1.67)
  const prefixed = await generate(makeFake(fn, 4).stepper, { maxNewTokens: 3, repetitionPenalty: 1.5, historyPrefix: [0] });
  assert.deepEqual(prefixed.tokenIds, [1, 0, 0]); // the start token 0 is penalised from the first step
  assert.equal(prefixed.tokenIds.length, 3); // the prefix is not counted as generated

  const g = () => [0, 3, 2, 1];
  assert.deepEqual((await generate(makeFake(g, 4).stepper, { maxNewTokens: 4, noRepeatNgramSize: 2 })).tokenIds, [1, 1, 2, 1]);
  // With [1] in front, (1, 1) exists after the first token, so the second cannot be 1.
  assert.deepEqual((await generate(makeFake(g, 4).stepper, { maxNewTokens: 4, noRepeatNgramSize: 2, historyPrefix: [1] })).tokenIds, [1, 2, 1, 3]);
  await assert.rejects(generate(makeFake(fn, 4).stepper, { historyPrefix: [-1] }), (e: any) => e.code === 'invalid_argument' && /historyPrefix/.test(e.message));
});

test('temperature, top-k and top-p masks on handcrafted scores', () => {
  const t = Float32Array.from([2, -4, 1]);
  new TemperatureLogitsWarper(2).process([[]], t);
  assert.deepEqual(Array.from(t), [1, -2, 0.5]);
  const k = Float32Array.from([1, 5, 3, 5, 2, 9, 9, 0, 1, 1]);
  new TopKLogitsWarper(2).process([[], []], k); // ties with the k-th survive
  assert.deepEqual(Array.from(k), [-Infinity, 5, -Infinity, 5, -Infinity, 9, 9, -Infinity, -Infinity, -Infinity]);
  const k3 = Float32Array.from([1, 5, 3, 5, 2]);
  new TopKLogitsWarper(3).process([[]], k3);
  assert.deepEqual(Array.from(k3), [-Infinity, 5, 3, 5, -Infinity]);
  const p = () => Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  const p75 = p();
  new TopPLogitsWarper(0.75).process([[]], p75); // cumsum ascending .05 .2 .5 1: drop ≤ .25
  assert.deepEqual(Array.from(p75).map(Number.isFinite), [true, true, false, false]);
  const p10 = p();
  new TopPLogitsWarper(0.1).process([[]], p10); // everything but the best one
  assert.deepEqual(Array.from(p10).map(Number.isFinite), [true, false, false, false]);
  const edge = Float32Array.from([Math.LN2, 0, 0]); // probs .5 .25 .25: cumsum .25 ≤ 1 - .75 is removed
  new TopPLogitsWarper(0.75).process([[]], edge);
  assert.deepEqual(Array.from(edge).map(Number.isFinite), [true, false, true]);
  const p1 = p();
  new TopPLogitsWarper(1).process([[]], p1);
  assert.deepEqual(Array.from(p1).map(Number.isFinite), [true, true, true, true]);
});

test('stopping criteria: per row, OR-combined', () => {
  const list = new StoppingCriteriaList([new MaxNewTokensCriterion(3), new EosTokenCriterion([7, 8])]);
  assert.deepEqual(list.isDone([[1, 2, 3], [1, 8], [1, 2], []]), [true, true, false, false]);
});

test('sampling is reproducible per seed, differs across seeds, and top-k 1 is greedy', async () => {
  const fn = hashLogits(5, 12, 1.5);
  const sample = async (extra: GenerationOptions) => {
    const streamed: number[] = [];
    const r = await generate(makeFake(fn, 12).stepper, { doSample: true, maxNewTokens: 20, onToken: (t) => streamed.push(t), ...extra });
    assert.deepEqual(streamed, r.tokenIds);
    return r.tokenIds;
  };
  assert.deepEqual(await sample({ seed: 42 }), await sample({ seed: 42 }));
  assert.notDeepEqual(await sample({ seed: 42 }), await sample({ seed: 43 }));
  assert.deepEqual(await sample({ seed: 7, topK: 1, temperature: 3 }), referenceGreedy(fn, [], 20));
  assert.deepEqual(await sample({ seed: 8, topP: 1e-6 }), referenceGreedy(fn, [], 20));
});

test('the sampler follows the distribution', () => {
  const rng = createRng(123);
  const probs = Float64Array.from([0.1, 0, 0.6, 0.3]);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 20000; i++) counts[sampleIndex(probs, rng.nextFloat())]++;
  assert.equal(counts[1], 0);
  probs.forEach((p, i) => assert.ok(Math.abs(counts[i] / 20000 - p) < 0.015, `token ${i}: ${counts[i]}`));
});

test('cancellation rejects with code cancelled', async () => {
  const fn = hashLogits(3, 12);
  const aborted = new AbortController();
  aborted.abort();
  const pre = makeFake(fn, 12);
  assert.equal(await codeOf(generate(pre.stepper, { signal: aborted.signal })), 'cancelled');
  assert.equal(pre.state.prefills, 0);

  const mid = new AbortController();
  const greedy = makeFake(fn, 12);
  let seen = 0;
  const onToken = () => (++seen === 2 ? mid.abort() : undefined);
  assert.equal(await codeOf(generate(greedy.stepper, { maxNewTokens: 10, onToken, signal: mid.signal })), 'cancelled');
  assert.equal(greedy.state.nexts, 1);

  const beamAbort = new AbortController();
  const beam = makeFake(fn, 12, { maxRows: 3 });
  const next = beam.stepper.next;
  beam.stepper.next = async (tokens, parents) => {
    if (beam.state.nexts === 2) beamAbort.abort();
    return next(tokens, parents);
  };
  assert.equal(await codeOf(generate(beam.stepper, { numBeams: 3, maxNewTokens: 10, signal: beamAbort.signal })), 'cancelled');
  assert.equal(beam.state.nexts, 3);
});

test('invalid options and malformed logits are rejected clearly', async () => {
  const bad: GenerationOptions[] = [
    { maxNewTokens: 0 }, { maxNewTokens: 1.5 }, { minNewTokens: -1 }, { numBeams: 0 }, { temperature: 0 },
    { topP: 0 }, { topP: 1.5 }, { topK: -1 }, { repetitionPenalty: 0 }, { noRepeatNgramSize: 2.5 },
    { eosTokenId: 12 }, { eosTokenId: [1, -1] }, { earlyStopping: 'sometimes' as never }, { doSample: true, numBeams: 2 },
    { lengthPenalty: Number.NaN }, { max_new_tokens: 5 } as never, { onToken: 3 as never },
  ];
  for (const options of bad) {
    const { stepper, state } = makeFake(hashLogits(1, 12), 12);
    assert.equal(await codeOf(generate(stepper, options)), 'invalid_argument', JSON.stringify(options));
    assert.equal(state.prefills, 0);
  }
  await assert.rejects(generate(makeFake(hashLogits(1, 12), 12).stepper, { topP: 2 }), /topP/);
  const wrong = { vocabSize: 12, prefill: async () => new Float32Array(11), next: async () => new Float32Array(12) } satisfies DecoderStepper;
  assert.equal(await codeOf(generate(wrong)), 'inference_failed');
});

test('a 50k vocabulary decodes quickly (partial selection, no full sorts)', async () => {
  const vocab = 50272;
  const base = Float32Array.from(hashLogits(11, vocab, 8)([]));
  const fn: LogitsFn = (h) => {
    const out = base.slice();
    out[(h.length * 7919 + (h[h.length - 1] ?? 0)) % vocab] += 9; // a cheap history-dependent favourite
    return out;
  };
  const started = performance.now();
  const r = await generate(makeFake(fn, vocab, { eos: [2], maxRows: 5 }).stepper, { numBeams: 5, maxNewTokens: 20, eosTokenId: 2, repetitionPenalty: 1.2, noRepeatNgramSize: 3 });
  const elapsed = performance.now() - started;
  assert.equal(r.tokenIds.length, 20);
  assert.ok(elapsed < 5000, `${elapsed} ms`);
});
