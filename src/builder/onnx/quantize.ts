// Weight-only block quantization packed for ONNX Runtime's com.microsoft::MatMulNBits.
// W is in HF Linear layout [N=out, K=in]; blocks run along K. Layouts (per ContribOperators.md):
//   B           uint8 [N, blocks, blockSize·bits/8], 4-bit values low nibble first
//   scales      float [N, blocks]
//   zero_points uint8 [N, ceil(blocks·bits/8)] (asymmetric only; symmetric uses the implicit 2^(bits-1))
// dequant(q) = (q − zp) · scale

export type QuantBits = 4 | 8;

export interface BlockQuantConfig {
  bits: QuantBits;
  blockSize: number;
  symmetric: boolean;
}

export interface PackedWeight {
  n: number;
  k: number;
  blocks: number;
  data: Uint8Array;
  scales: Float32Array;
  zeroPoints?: Uint8Array;
}

export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new Error(`block size must be a power of two ≥ 16, got ${blockSize}`);
  }
}

/** Where to write the packed weight (reused scratch); sizes must match exactly. */
export interface PackedOut { data: Uint8Array; scales: Float32Array; zeroPoints?: Uint8Array }

export function packedSizes(n: number, k: number, cfg: BlockQuantConfig): { data: number; scales: number; zeroPoints: number } {
  const blocks = Math.ceil(k / cfg.blockSize);
  return { data: n * blocks * ((cfg.blockSize * cfg.bits) / 8), scales: n * blocks, zeroPoints: cfg.symmetric ? 0 : n * Math.ceil((blocks * cfg.bits) / 8) };
}

export function quantizeBlocks(w: Float32Array, n: number, k: number, cfg: BlockQuantConfig, into?: PackedOut): PackedWeight {
  checkBlockSize(cfg.blockSize);
  const { bits, blockSize, symmetric } = cfg;
  const blocks = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const qmax = (1 << bits) - 1;
  const mid = 1 << (bits - 1);
  const data = into?.data ?? new Uint8Array(n * blocks * blobBytes);
  const scales = into?.scales ?? new Float32Array(n * blocks);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = symmetric ? undefined : into?.zeroPoints?.fill(0) ?? new Uint8Array(n * zpRow);
  const q = new Uint8Array(blockSize);

  for (let r = 0; r < n; r++) {
    const row = r * k;
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const end = Math.min(start + blockSize, k);
      let scale: number;
      let zp: number;
      if (symmetric) {
        // MLAS convention: the value of largest magnitude maps to −2^(bits−1) exactly.
        let amax = 0;
        let aabs = 0;
        for (let i = start; i < end; i++) {
          const v = w[row + i];
          const a = v < 0 ? -v : v;
          if (a > aabs) { aabs = a; amax = v; }
        }
        scale = amax / -mid;
        zp = mid;
      } else {
        let lo = 0;
        let hi = 0;
        for (let i = start; i < end; i++) {
          const v = w[row + i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        scale = (hi - lo) / qmax;
        zp = scale === 0 ? mid : clamp(Math.round(-lo / scale), 0, qmax);
      }
      scale = Math.fround(scale);
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(zp);
      for (let i = start; i < end; i++) {
        const v = Math.round(w[row + i] * inv) + zp;
        q[i - start] = v < 0 ? 0 : v > qmax ? qmax : v;
      }
      scales[r * blocks + b] = scale;
      const out = (r * blocks + b) * blobBytes;
      if (bits === 8) data.set(q, out);
      else for (let j = 0; j < blockSize; j += 2) data[out + j / 2] = q[j] | (q[j + 1] << 4);
      if (zeroPoints) {
        if (bits === 8) zeroPoints[r * zpRow + b] = zp;
        else zeroPoints[r * zpRow + (b >> 1)] |= b & 1 ? zp << 4 : zp;
      }
    }
  }
  return { n, k, blocks, data, scales, zeroPoints };
}

/** The float weights MatMulNBits computes with, [N, K]: for accuracy reports and tests. */
export function dequantizeBlocks(p: PackedWeight, cfg: BlockQuantConfig): Float32Array {
  const { bits, blockSize } = cfg;
  const blobBytes = (blockSize * bits) / 8;
  const zpRow = Math.ceil((p.blocks * bits) / 8);
  const out = new Float32Array(p.n * p.k);
  for (let r = 0; r < p.n; r++) {
    for (let b = 0; b < p.blocks; b++) {
      const scale = p.scales[r * p.blocks + b];
      let zp = 1 << (bits - 1);
      if (p.zeroPoints) {
        zp = bits === 8 ? p.zeroPoints[r * zpRow + b] : (p.zeroPoints[r * zpRow + (b >> 1)] >> ((b & 1) * 4)) & 15;
      }
      const base = (r * p.blocks + b) * blobBytes;
      for (let j = 0; j < blockSize && b * blockSize + j < p.k; j++) {
        const qv = bits === 8 ? p.data[base + j] : (p.data[base + (j >> 1)] >> ((j & 1) * 4)) & 15;
        out[r * p.k + b * blockSize + j] = (qv - zp) * scale;
      }
    }
  }
  return out;
}

/**
 * Per-output-channel symmetric int8 for com.microsoft::DynamicQuantizeMatMul (activations are
 * quantized per call by the kernel): W [N, K] → B int8 [K, N] (transposed, row-major) and
 * scales [N], with dequant(q) = q · scale[n] and the largest magnitude of each channel at ±127.
 */
export function quantizePerChannelInt8(w: Float32Array, n: number, k: number, into?: { data: Int8Array; scales: Float32Array }): { data: Int8Array; scales: Float32Array } {
  const data = into?.data ?? new Int8Array(k * n);
  const scales = into?.scales ?? new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const row = r * k;
    let amax = 0;
    for (let c = 0; c < k; c++) {
      const a = Math.abs(w[row + c]);
      if (a > amax) amax = a;
    }
    const scale = Math.fround(amax / 127);
    scales[r] = scale;
    const inv = scale === 0 ? 0 : 1 / scale;
    for (let c = 0; c < k; c++) data[c * n + r] = clamp(Math.round(w[row + c] * inv), -127, 127);
  }
  return { data, scales };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
