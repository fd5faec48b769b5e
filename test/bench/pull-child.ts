// Child process: pulls one model from a (loopback) Hub and reports time, bytes and peak RSS.
import { HubClient } from '../../src/hub/hub-client.ts';
import { pullModel } from '../../src/models/pull.ts';
import type { Quantization } from '../../src/builder/quant-plan.ts';
import { peakRssMiB, timed } from './proc-stats.ts';

const [endpoint, repo, modelsDir, quant] = process.argv.slice(2);
const hub = new HubClient({ endpoint });
const [r, ms] = await timed(() => pullModel(repo, { hub, modelsDir, quant: quant as Quantization, force: true }));
await hub.close();
const bytes = Object.values(r.manifest.files).reduce((a, f) => a + f.bytes, 0);
process.stdout.write(JSON.stringify({ seconds: ms / 1000, downloadedBytes: r.downloadedBytes, modelBytes: bytes, peakRssMiB: peakRssMiB() }) + '\n');
