// Text edits at scanned offsets, and the layout rules new markup follows (line breaks and
// indentation copied from the surrounding packet, a compact packet kept compact). Split out of
// xmp-merge.ts so the merge reads as what it changes; no XMP knowledge here.
import { AppError } from '../../shared/errors.ts';
import { elementChildren, type XmlElement } from './xml-scan.ts';

export interface Edit {
  start: number;
  end: number;
  text: string;
}

export function qn(prefix: string, local: string): string {
  return prefix ? `${prefix}:${local}` : local;
}

/**
 * Line break plus indentation for new markup laid out like the element at `pos`, `depth` steps
 * deeper; nothing at all when that element shares its line with others (a compact packet stays compact).
 */
export function breaker(xml: string, unit: string): (pos: number, depth?: number) => string {
  return (pos, depth = 0) => {
    const indent = indentAt(xml, pos);
    return indent === undefined ? '' : `\n${indent}${unit.repeat(depth)}`;
  };
}

/** Replace an element's content, turning `<a/>` into `<a>…</a>` when needed. */
export function setContent(el: XmlElement, text: string): Edit {
  if (el.selfClosing) return { start: el.startTagEnd - 2, end: el.end, text: `>${text}</${el.name}>` };
  return { start: el.startTagEnd, end: el.endTagStart, text };
}

/** Insert `text` as the first content of `el`; `closeBreak` precedes the end tag a `<a/>` gains. */
export function insertFirst(el: XmlElement, text: string, closeBreak: string): Edit {
  if (el.selfClosing) return { start: el.startTagEnd - 2, end: el.end, text: `>${text}${closeBreak}</${el.name}>` };
  return { start: el.startTagEnd, end: el.startTagEnd, text };
}

/** Leading whitespace of the line `pos` is on, or undefined when something else precedes `pos` on it. */
export function indentAt(xml: string, pos: number): string | undefined {
  let s = pos;
  while (s > 0 && (xml[s - 1] === ' ' || xml[s - 1] === '\t')) s--;
  return s === 0 || xml[s - 1] === '\n' ? xml.slice(s, pos) : undefined;
}

/** Where to cut from so that removing an element also removes its now-empty line. */
export function lineStart(xml: string, pos: number): number {
  let s = pos;
  while (s > 0 && (xml[s - 1] === ' ' || xml[s - 1] === '\t')) s--;
  if (xml[s - 1] === '\n') s--;
  if (xml[s - 1] === '\r') s--;
  return s;
}

/** One indentation step as the writer used it (child indent minus parent indent), default one space. */
export function indentUnit(xml: string, d: XmlElement | undefined): string {
  const first = d && elementChildren(d)[0];
  const outer = d && indentAt(xml, d.start);
  const inner = first && indentAt(xml, first.start);
  if (outer === undefined || inner === undefined) return ' ';
  return inner.startsWith(outer) && inner.length > outer.length ? inner.slice(outer.length) : ' ';
}

export function applyEdits(xml: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = xml;
  let limit = Infinity;
  for (const e of sorted) {
    if (e.end > limit) throw new AppError('io_error', 'internal error: overlapping XMP edits');
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    limit = e.start;
  }
  return out;
}
