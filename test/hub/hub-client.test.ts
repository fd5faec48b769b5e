// The Hub client on its own: proxies from the environment, the endpoint from HF_ENDPOINT, a snapshot
// pinned to a commit, Range reads through the Hub's redirect, and errors that say what to do.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HubClient, endpointFromEnv } from '../../src/hub/hub-client.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';

/** A forward proxy (absolute-form requests and CONNECT tunnels, as undici uses), noting what it carries. */
function forwardProxy(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const up = request(req.url!, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req, client, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const up = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })));
}

describe('HubClient', () => {
  let hub: HubEmulator;
  before(async () => {
    hub = await HubEmulator.start({ repos: [{ id: 'Salesforce/blip2-opt-2.7b', dir: fixturePath('opt') }] });
  });
  after(() => hub.close());

  it('takes the endpoint from HF_ENDPOINT, else the Hub', () => {
    assert.equal(endpointFromEnv({ HF_ENDPOINT: 'https://mirror.example/' }), 'https://mirror.example');
    assert.equal(endpointFromEnv({}), 'https://huggingface.co');
  });

  it('pins a revision to its commit and reads byte ranges through the redirect', async () => {
    const client = new HubClient({ endpoint: hub.url });
    const snap = await client.snapshot('Salesforce/blip2-opt-2.7b', 'main');
    assert.match(snap.commit, /^[0-9a-f]{40}$/);
    const st = snap.files.find((f) => f.path === 'model.safetensors')!;
    const bytes = readFileSync(fixturePath('opt/model.safetensors'));
    assert.equal(st.size, bytes.byteLength);
    assert.equal(st.sha256, createHash('sha256').update(bytes).digest('hex'));
    const part = await client.readRange(snap.repo, snap.commit, 'model.safetensors', 1000, 5000);
    assert.deepEqual(Buffer.from(part), bytes.subarray(1000, 5000));
    await client.close();
  });

  it('goes through HTTP_PROXY when the environment names one', async () => {
    const proxy = await forwardProxy();
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY, http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy };
    process.env.HTTP_PROXY = proxy.url;
    delete process.env.NO_PROXY; delete process.env.no_proxy; delete process.env.http_proxy;
    try {
      const client = new HubClient({ endpoint: hub.url });
      const snap = await client.snapshot('Salesforce/blip2-opt-2.7b');
      await client.readSmall(snap.repo, snap.commit, 'config.json');
      await client.close();
      const port = new URL(hub.url).port;
      assert.ok(proxy.seen.some((u) => u.includes(`127.0.0.1:${port}`)), `proxy saw ${proxy.seen.join(', ')}`);
      // Every request the emulator got came through the proxy (its tunnels), none around it.
      assert.ok(hub.requests.length > 0);
    } finally {
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
      proxy.server.closeAllConnections();
      proxy.server.close();
    }
  });

  it('refuses a token that is not a Hugging Face token and an endpoint that is not http(s)', () => {
    assert.throws(() => new HubClient({ endpoint: hub.url, token: 'secret' }), /hf_/);
    assert.throws(() => new HubClient({ endpoint: 'ftp://x' }), /http/);
  });
});
