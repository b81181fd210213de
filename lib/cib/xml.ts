/**
 * A small, strict XML reader for the subset pacemaker writes (cibadmin -Q, crm_simulate -O):
 * elements, attributes, text, comments, processing instructions, the five named entities and
 * numeric character references. No DTDs, no namespaces resolution, no CDATA tricks beyond
 * reading them as text. Anything malformed is an error with its offset, never a guess.
 */
import { SanodeError } from '../errors/index.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_:][A-Za-z0-9_.:-]*/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function fail(pos: number, message: string): never {
  throw new SanodeError('SANODE_INVALID_CIB', `XML at offset ${pos}: ${message}`, { field: 'xml' });
}

/** XML 1.0's Char production: what a document, or a character reference, may contain. */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/**
 * A lone surrogate (a JavaScript string need not be valid UTF-16) or a control character XML
 * forbids. Checked once over the whole source, so decode() sees only characters XML allows.
 */
const FORBIDDEN = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Without lookarounds, so the common case (no surrogate, no control character) is one quick scan. */
const SUSPECT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

function checkCharacters(source: string): void {
  if (!SUSPECT.test(source)) return;
  const m = FORBIDDEN.exec(source);
  if (m === null) return;
  const unit = m[0].charCodeAt(0);
  const hex = unit.toString(16).toUpperCase().padStart(4, '0');
  fail(m.index, unit >= 0xd800 && unit <= 0xdfff ? `lone surrogate U+${hex} (the text is not valid UTF-16)` : `U+${hex} is not a character XML allows`);
}

function decode(raw: string, pos: number): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) fail(pos, "bare '&' (write &amp;)");
    if (ref.startsWith('#')) {
      const cp = ref.startsWith('#x') ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      // String.fromCodePoint would throw a bare RangeError above U+10FFFF, and take a surrogate.
      if (!isXmlChar(cp)) fail(pos, `${m} is not a character XML allows`);
      return String.fromCodePoint(cp);
    }
    const e = ENTITIES[ref];
    if (e === undefined) fail(pos, `unknown entity ${m}`);
    return e;
  });
}

/** Far deeper than any CIB; bounds the recursion of whoever walks the tree afterwards. */
const MAX_DEPTH = 256;

export function parseXml(source: string): XmlElement {
  checkCharacters(source);
  let pos = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipSpace = (): void => {
    while (pos < source.length && /\s/.test(source[pos]!)) pos++;
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(source);
    if (m === null) fail(pos, 'expected a name');
    pos += m[0].length;
    return m[0];
  };
  while (pos < source.length) {
    const lt = source.indexOf('<', pos);
    const textEnd = lt === -1 ? source.length : lt;
    const text = source.slice(pos, textEnd);
    if (text.trim() !== '') {
      if (stack.length === 0) fail(pos, 'text outside the root element');
      stack[stack.length - 1]!.text += decode(text, pos);
    }
    if (lt === -1) break;
    pos = lt;
    if (source.startsWith('<!--', pos)) {
      const end = source.indexOf('-->', pos + 4);
      if (end === -1) fail(pos, 'unterminated comment');
      pos = end + 3;
    } else if (source.startsWith('<?', pos)) {
      const end = source.indexOf('?>', pos + 2);
      if (end === -1) fail(pos, 'unterminated processing instruction');
      pos = end + 2;
    } else if (source.startsWith('<![CDATA[', pos)) {
      const end = source.indexOf(']]>', pos);
      if (end === -1 || stack.length === 0) fail(pos, 'bad CDATA section');
      stack[stack.length - 1]!.text += source.slice(pos + 9, end);
      pos = end + 3;
    } else if (source.startsWith('<!', pos)) {
      fail(pos, 'DTDs are not supported');
    } else if (source.startsWith('</', pos)) {
      pos += 2;
      const name = readName();
      skipSpace();
      if (source[pos] !== '>') fail(pos, `expected '>' to close </${name}`);
      pos++;
      const open = stack.pop();
      if (open === undefined || open.name !== name) fail(pos, `</${name}> does not match <${open?.name ?? '(nothing)'}>`);
    } else {
      pos++;
      const el: XmlElement = { name: readName(), attrs: {}, children: [], text: '' };
      for (;;) {
        skipSpace();
        if (source.startsWith('/>', pos) || source[pos] === '>') break;
        const attr = readName();
        skipSpace();
        if (source[pos] !== '=') fail(pos, `expected '=' after attribute ${attr}`);
        pos++;
        skipSpace();
        const quote = source[pos];
        if (quote !== '"' && quote !== "'") fail(pos, `attribute ${attr} needs a quoted value`);
        const end = source.indexOf(quote, pos + 1);
        if (end === -1) fail(pos, `unterminated value of ${attr}`);
        if (Object.hasOwn(el.attrs, attr)) fail(pos, `attribute ${attr} appears twice`);
        el.attrs[attr] = decode(source.slice(pos + 1, end), pos);
        pos = end + 1;
      }
      if (stack.length > 0) stack[stack.length - 1]!.children.push(el);
      else if (root === undefined) root = el;
      else fail(pos, 'more than one root element');
      if (source[pos] === '>') {
        if (stack.length >= MAX_DEPTH) fail(pos, `elements nested deeper than ${MAX_DEPTH}`);
        stack.push(el);
        pos++;
      } else pos += 2;
    }
  }
  if (stack.length > 0) fail(pos, `<${stack[stack.length - 1]!.name}> is never closed`);
  if (root === undefined) fail(0, 'no root element');
  return root;
}

/** Children with the given name. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** Every descendant (depth first) with the given name. */
export function descendants(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
