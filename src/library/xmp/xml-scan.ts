// A small namespace-aware XML scanner that keeps the source offsets of every element, attribute
// and text run. XMP merging edits the original text at those offsets, so everything we do not own
// (other namespaces, formatting, entity spellings, comments) survives byte-for-byte; a rebuild from
// a parsed tree cannot promise that. Input is first checked with fast-xml-parser's XMLValidator;
// this scanner adds the checks that validator skips (one root, nothing but markup around it).
import { XMLValidator } from 'fast-xml-parser';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

export interface XmlAttr {
  name: string;
  local: string;
  /** Resolved namespace URI; unprefixed attributes have none (XML Namespaces §6.2). */
  uri: string | undefined;
  value: string;
  /** Span of `name="value"` in the source. */
  start: number;
  end: number;
}

export interface XmlText {
  kind: 'text';
  value: string;
  start: number;
  end: number;
}

export interface XmlElement {
  kind: 'element';
  name: string;
  prefix: string;
  local: string;
  uri: string | undefined;
  attrs: XmlAttr[];
  /** In-scope prefix -> URI bindings ('' is the default namespace). */
  ns: ReadonlyMap<string, string>;
  children: XmlNode[];
  parent: XmlElement | undefined;
  start: number;
  /** Index just after the start tag's '>'; for `<a/>` this equals `end`. */
  startTagEnd: number;
  /** Index of the end tag's '<'; for `<a/>` this equals `end`. */
  endTagStart: number;
  end: number;
  selfClosing: boolean;
}

export type XmlNode = XmlElement | XmlText;

export class XmlSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[^\s/>=<"']+/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
// XML 1.0 §2.2: these code points may not appear at all, not even as character references.
const FORBIDDEN_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

export function decodeEntities(raw: string, offset = 0): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string, at: number) => {
    if (!whole.endsWith(';')) throw new XmlSyntaxError("bare '&' (write &amp;)", offset + at);
    if (ref in PREDEFINED) return PREDEFINED[ref];
    const code = /^#x[0-9a-f]+$/i.test(ref) ? parseInt(ref.slice(2), 16) : /^#[0-9]+$/.test(ref) ? Number(ref.slice(1)) : NaN;
    if (Number.isNaN(code)) throw new XmlSyntaxError(`unknown entity &${ref};`, offset + at);
    if (code > 0x10ffff || FORBIDDEN_CHAR.test(String.fromCodePoint(code))) {
      throw new XmlSyntaxError(`character reference &${ref}; is not allowed in XML`, offset + at);
    }
    return String.fromCodePoint(code);
  });
}

/** Drop what XML 1.0 cannot carry at all (most C0 controls, U+FFFE/F); lone surrogates become U+FFFD. */
export function cleanXmlText(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Escape text for element content or a double-quoted attribute (after cleanXmlText). */
export function escapeXml(text: string): string {
  return cleanXmlText(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // A literal CR would be normalised to LF by every reader; the reference survives.
    .replace(/\r/g, '&#xD;');
}

/** Well-formed by fast-xml-parser's validator and by this scanner's stricter structural checks. */
export function isWellFormedXml(text: string): boolean {
  return parseDocument(text).ok;
}

/** Validate and scan once: the root element, or why the text is not well-formed XML. */
export function parseDocument(text: string): { ok: true; root: XmlElement } | { ok: false; why: string } {
  const v = XMLValidator.validate(text.startsWith('\uFEFF') ? text.slice(1) : text);
  if (v !== true) return { ok: false, why: `line ${v.err.line}: ${v.err.msg}` };
  try {
    return { ok: true, root: scanXml(text) };
  } catch (err) {
    if (!(err instanceof XmlSyntaxError)) throw err;
    return { ok: false, why: `line ${text.slice(0, err.offset).split('\n').length}: ${err.message}` };
  }
}

/** Parse a whole document into its root element. Throws XmlSyntaxError on anything malformed. */
export function scanXml(text: string): XmlElement {
  const base = new Map<string, string>([['xml', XML_NS]]);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = text.startsWith('\uFEFF') ? 1 : 0;
  const startOfDoc = i;

  const fail = (msg: string, at = i): never => {
    throw new XmlSyntaxError(msg, at);
  };
  const closeAt = (token: string, from: number, what: string): number => {
    const j = text.indexOf(token, from);
    return j < 0 ? fail(`unterminated ${what}`) : j + token.length;
  };
  const addText = (value: string, start: number, end: number): void => {
    const top = stack[stack.length - 1];
    if (top) top.children.push({ kind: 'text', value, start, end });
    else if (/\S/.test(value)) fail('text outside the root element', start);
  };

  while (i < text.length) {
    if (text[i] !== '<') {
      const next = text.indexOf('<', i);
      const j = next < 0 ? text.length : next;
      const raw = text.slice(i, j);
      if (FORBIDDEN_CHAR.test(raw)) fail('control character in text');
      if (raw.includes(']]>')) fail("']]>' in text");
      // XML 1.0 §2.11: literal CRLF and CR read as LF (a CR written as &#xD; survives).
      addText(decodeEntities(raw.replace(/\r\n?/g, '\n'), i), i, j);
      i = j;
    } else if (text.startsWith('<?', i)) {
      const end = closeAt('?>', i + 2, 'processing instruction');
      if (/^<\?xml[\s?]/i.test(text.slice(i, i + 6)) && i !== startOfDoc) fail('XML declaration not at the start');
      i = end;
    } else if (text.startsWith('<!--', i)) {
      i = closeAt('-->', i + 4, 'comment');
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = closeAt(']]>', i + 9, 'CDATA section');
      addText(text.slice(i + 9, end - 3).replace(/\r\n?/g, '\n'), i, end);
      i = end;
    } else if (text.startsWith('<!', i)) {
      if (root || stack.length) fail('declaration inside the document');
      // DOCTYPE: skip it, including an internal subset in [...]; XMP never carries one.
      let depth = 0;
      let j = i + 2;
      for (; j < text.length; j++) {
        if (text[j] === '[') depth++;
        else if (text[j] === ']') depth--;
        else if (text[j] === '>' && depth <= 0) break;
      }
      i = j < text.length ? j + 1 : fail('unterminated declaration');
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const name = NAME.exec(text)?.[0] ?? fail('bad end tag');
      const close = text.indexOf('>', i);
      if (close < 0 || /\S/.test(text.slice(i + 2 + name.length, close))) fail('bad end tag');
      const el = stack.pop() ?? fail(`unexpected </${name}>`);
      if (el.name !== name) fail(`expected </${el.name}>, found </${name}>`);
      el.endTagStart = i;
      el.end = close + 1;
      i = close + 1;
    } else {
      i = openTag(i);
    }
  }
  if (stack.length) fail(`<${stack[stack.length - 1].name}> is never closed`);
  return root ?? fail('no root element', startOfDoc);

  function openTag(start: number): number {
    NAME.lastIndex = start + 1;
    const name = NAME.exec(text)?.[0] ?? fail('bad start tag', start);
    let j = start + 1 + name.length;
    const raw: { name: string; value: string; start: number; end: number }[] = [];
    for (;;) {
      const ws = /\s*/y;
      ws.lastIndex = j;
      const hadSpace = ws.exec(text)![0].length > 0;
      j = ws.lastIndex;
      if (text.startsWith('/>', j) || text[j] === '>') break;
      if (!hadSpace) fail(`missing space before attribute in <${name}>`, j);
      NAME.lastIndex = j;
      const attr = NAME.exec(text)?.[0] ?? fail(`bad attribute in <${name}>`, j);
      const m = /\s*=\s*(["'])/y;
      m.lastIndex = j + attr.length;
      const q = m.exec(text)?.[1] ?? fail(`attribute ${attr} has no quoted value`, j);
      const vStart = m.lastIndex;
      const vEnd = text.indexOf(q, vStart);
      if (vEnd < 0) fail('unterminated attribute value', j);
      const rawValue = text.slice(vStart, vEnd);
      if (rawValue.includes('<') || FORBIDDEN_CHAR.test(rawValue)) fail(`illegal character in attribute ${attr}`, vStart);
      // Attribute-value normalisation (XML 1.0 §3.3.3): literal whitespace becomes a space.
      raw.push({ name: attr, value: decodeEntities(rawValue.replace(/\r\n?/g, '\n').replace(/[\t\n]/g, ' '), vStart), start: j, end: vEnd + 1 });
      j = vEnd + 1;
    }
    const selfClosing = text[j] === '/';
    const tagEnd = j + (selfClosing ? 2 : 1);
    const parent = stack[stack.length - 1];
    if (!parent && root) fail('second root element', start);
    const ns = new Map(parent?.ns ?? base);
    for (const a of raw) {
      if (a.name === 'xmlns') ns.set('', a.value);
      else if (a.name.startsWith('xmlns:')) ns.set(a.name.slice(6), a.value);
    }
    const [prefix, local] = splitName(name);
    const resolve = (p: string, isAttr: boolean): string | undefined => {
      if (p === '' && isAttr) return undefined;
      const uri = ns.get(p);
      if (uri === undefined && p !== '') fail(`undeclared namespace prefix '${p}'`, start);
      return uri || undefined;
    };
    const attrs: XmlAttr[] = raw.map((a) => {
      const [p, l] = splitName(a.name);
      const isDecl = a.name === 'xmlns' || p === 'xmlns';
      return { ...a, local: l, uri: isDecl ? 'http://www.w3.org/2000/xmlns/' : resolve(p, true) };
    });
    if (new Set(attrs.map((a) => `${a.uri} ${a.local}`)).size !== attrs.length) fail(`repeated attribute in <${name}>`, start);
    const el: XmlElement = {
      kind: 'element', name, prefix, local, uri: resolve(prefix, false), attrs, ns, children: [], parent,
      start, startTagEnd: tagEnd, endTagStart: tagEnd, end: tagEnd, selfClosing,
    };
    if (parent) parent.children.push(el);
    else root = el;
    if (!selfClosing) stack.push(el);
    return tagEnd;
  }
}

function splitName(name: string): [string, string] {
  const c = name.indexOf(':');
  return c < 0 ? ['', name] : [name.slice(0, c), name.slice(c + 1)];
}

/** Child elements of `el` (text, comments and PIs skipped). */
export function elementChildren(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => c.kind === 'element');
}

/** Concatenated text content of an element's direct text children (entities decoded, CDATA kept). */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (c.kind === 'text' ? c.value : '')).join('');
}

/** Every element in document order. */
export function* walk(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) if (c.kind === 'element') yield* walk(c);
}

export function attr(el: XmlElement, uri: string | undefined, local: string): XmlAttr | undefined {
  return el.attrs.find((a) => a.uri === uri && a.local === local);
}
