// The journal of a pull in progress (`journal.jsonl` in the pull's work folder): one line per tensor
// converted, written after its outputs reached the data files, with the shard position, the shard's
// sha256 state at that position and the data files' lengths. A killed pull reopens the data files
// at the last line's lengths and asks the Hub for the rest of the shard from that position: at most
// the tensor in flight is lost. Lines are appended, never rewritten, except when a shard fails its
// checksum and its lines are dropped. A torn last line (killed mid-write) is ignored.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { TensorRecord } from '../builder/stream-convert.ts';

export interface TensorLine {
  t: 'tensor';
  shard: string;
  /** File position after this tensor. */
  end: number;
  /** hash-wasm sha256 state after `end` bytes (base64); absent when the file has no checksum. */
  hash?: string;
  lengths: Record<string, number>;
  rec: TensorRecord | null;
}
export interface ShardLine { t: 'shard'; shard: string; sha256?: string }
export type JournalLine = TensorLine | ShardLine;

export interface JournalState {
  records: TensorRecord[];
  lengths?: Record<string, number>;
  /** Per unfinished shard: where to carry on. */
  partial: Map<string, { end: number; hash?: string }>;
  done: Set<string>;
}

export class PullJournal {
  constructor(readonly path: string) {}

  read(): JournalState {
    const state: JournalState = { records: [], partial: new Map(), done: new Set() };
    if (!existsSync(this.path)) return state;
    for (const line of this.lines()) {
      if (line.t === 'shard') {
        state.done.add(line.shard);
        state.partial.delete(line.shard);
        continue;
      }
      if (line.rec) state.records.push(line.rec);
      state.lengths = line.lengths;
      state.partial.set(line.shard, { end: line.end, hash: line.hash });
    }
    return state;
  }

  append(line: JournalLine): void {
    appendFileSync(this.path, JSON.stringify(line) + '\n');
  }

  /** Forgets a shard's lines (its output is discarded); returns the data lengths before it. */
  dropShard(shard: string): Record<string, number> | undefined {
    const keep = this.lines().filter((l) => l.shard !== shard);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, keep.map((l) => JSON.stringify(l) + '\n').join(''));
    renameSync(tmp, this.path);
    let lengths: Record<string, number> | undefined;
    for (const l of keep) if (l.t === 'tensor') lengths = l.lengths;
    return lengths;
  }

  private lines(): JournalLine[] {
    if (!existsSync(this.path)) return [];
    const out: JournalLine[] = [];
    for (const text of readFileSync(this.path, 'utf8').split('\n')) {
      if (!text) continue;
      try {
        out.push(JSON.parse(text) as JournalLine);
      } catch {
        break; // a torn write: everything after it is not trusted
      }
    }
    return out;
  }
}
