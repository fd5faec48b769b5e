// A Flan-T5 model in the inference worker (a real child process): load reports which language model
// answers, captions stream their tokens and match Hugging Face's ids, chat turns reach the model in
// BLIP-2's format, and missing-tokenizer and over-long-prompt errors arrive as data with their codes.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { InferenceHost } from '../../src/jobs/inference-host.ts';
import { forkTransport } from '../../src/jobs/transport.ts';
import { fixturePath, makeTempDir, readJson } from '../helpers/fixtures.ts';

const golden = readJson('flan_t5/golden.json');
let dir: string;
let host: InferenceHost;

before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('flan_t5'), join(dir, 't5'));
  host = new InferenceHost({ transport: forkTransport(), backoffMs: 50 });
  await host.start();
});
after(async () => {
  await host?.shutdown();
  await rm(dir, { recursive: true, force: true });
});

describe('Flan-T5 in the inference worker', { timeout: 120_000 }, () => {
  it('load says it is a blip2-t5 answered by T5', async () => {
    const info = await host.load(join(dir, 't5'));
    assert.equal(info.kind, 'blip2-t5');
    assert.equal(info.language, 't5');
    assert.equal(info.hasTokenizer, false);
  });

  it('a caption from prompt ids streams its tokens and matches HF beam search', async () => {
    const c = golden.cases[1];
    const p = golden.prompts.find((x: any) => x.name === 'question');
    const streamed: number[] = [];
    const r = await host.caption(fixturePath(`images/${c.image}`), { promptIds: p.input_ids, numBeams: 5, maxNewTokens: 20 }, {
      onToken: (t) => streamed.push(t.tokenId),
    });
    assert.deepEqual([0, ...r.tokenIds], c.prompts.question.beam5.sequence);
    assert.deepEqual(streamed, r.tokenIds);
    assert.ok(Math.abs((r.score ?? NaN) - c.prompts.question.beam5.sequence_score) < 1e-4);
  });

  it('errors arrive with their codes: no tokenizer for a question, an over-long prompt', async () => {
    const img = fixturePath(`images/${golden.cases[0].image}`);
    await assert.rejects(host.ask(img, 'what is it?', { history: [{ question: 'what is it?', answer: 'a cat' }] }), (e: any) => e.code === 'tokenizer_missing');
    await assert.rejects(host.caption(img, { promptIds: [...Array.from({ length: 600 }, (_, i) => i + 2), 1] }), (e: any) => e.code === 'invalid_argument');
  });
});
