/**
 * Fuzzes the CIB XML reader (parseXml) and the pacemaker importer on top of it with a seeded
 * mix of mutated real CIBs, token soup and generated well-formed documents. Every input must
 * either read, or be refused with a SanodeError; nothing else may escape (a RangeError, a stack
 * overflow). Generated documents must read back exactly what was written.
 *
 * Budget: SANODE_FUZZ_XML_MS milliseconds (default 1500) or SANODE_FUZZ_XML_INPUTS inputs
 * (default 1 000 000), whichever ends first; SANODE_FUZZ_SEED=S picks the seed. A failure
 * prints the seed and the input's index, which reproduce it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { isSanodeError } from '../../lib/errors/index.js';
import { escapeXml, parseXml, type XmlElement } from '../../lib/cib/xml.js';
import { importPacemakerXml } from '../../lib/cib/pacemaker-import.js';
import { prng } from '../wire/helpers.js';

const BUDGET_MS = Number(process.env['SANODE_FUZZ_XML_MS'] ?? 1500);
const MAX_INPUTS = Number(process.env['SANODE_FUZZ_XML_INPUTS'] ?? 1_000_000);
const SEED = Number(process.env['SANODE_FUZZ_SEED'] ?? 0x3a11);

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}

/** Pieces that sit on the reader's edges: references, markup openers, odd code units. */
const TOKENS = [
  '<', '>', '/>', '</', '="', "='", '"', "'", '&', '&amp;', '&lt;', '&#', '&#x', ';', '&#x110000;', '&#1114112;',
  '&#xD800;', '&#xDFFF;', '&#0;', '&#x1F600;', '&#9;', '&#99999999999999999999;', '&bogus;', '<!--', '-->', '<?', '?>',
  '<![CDATA[', ']]>', '<!DOCTYPE', '\uD800', '\uDC00', '\uDBFF\uDFFF', '\u0000', '\uFFFE', '\u{1F600}', ' ', '\n', '\t',
  '<primitive', ' id="x"', ' id="x" id="y"', '<nvpair name="a" value="b"/>', '<cib>', '</cib>', '<configuration>',
  '</configuration>', '<resources>', '</resources>', 'a', '0', ':', '-',
];

/** Characters allowed in XML, from every plane the reader distinguishes. */
const VALUE_CHARS = ['a', 'Z', '0', ' ', '\t', '\n', '&', '<', '>', '"', "'", ';', '#', 'é', '\uE000', '\uFFFD', '\u{1F600}', '\u{10FFFF}'];

it(`fuzz: the CIB XML reader under ${BUDGET_MS} ms or ${MAX_INPUTS} inputs (seed ${SEED})`, () => {
  const random = prng(SEED);
  const fixture = readFileSync(join(repoRoot(), 'test/cib/fixtures/web-nfs-cib.xml'), 'utf8');
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)]!;

  const mutate = (text: string): string => {
    let out = text;
    const edits = 1 + random.int(4);
    for (let e = 0; e < edits; e++) {
      const at = random.int(out.length + 1);
      switch (random.int(6)) {
        case 0: out = out.slice(0, at) + pick(TOKENS) + out.slice(at); break;
        case 1: out = out.slice(0, at) + out.slice(at + 1 + random.int(40)); break;
        case 2: out = out.slice(0, at); break;
        case 3: out = out.slice(0, at) + String.fromCharCode(random.int(0x10000)) + out.slice(at + 1); break;
        case 4: { const from = random.int(out.length); out = out.slice(0, at) + out.slice(from, from + random.int(200)) + out.slice(at); break; }
        default: out = out.slice(0, at) + '<a>'.repeat(random.int(400)) + out.slice(at);
      }
    }
    return out;
  };
  const soup = (): string => {
    let out = '';
    const n = random.int(60);
    for (let i = 0; i < n; i++) out += pick(TOKENS);
    return out;
  };
  const value = (): string => {
    let out = '';
    const n = random.int(12);
    for (let i = 0; i < n; i++) out += pick(VALUE_CHARS);
    return out;
  };
  /** A well-formed document and the tree the reader must return for it. */
  const generated = (): { xml: string; tree: XmlElement } => {
    const build = (depth: number): { xml: string; tree: XmlElement } => {
      const name = pick(['cib', 'primitive', 'nvpair', 'a', 'x-y', 'n:s', '_u']);
      const attrs: Record<string, string> = {};
      let xml = `<${name}`;
      for (let i = random.int(4); i > 0; i--) {
        const attr = pick(['id', 'name', 'value', 'class', 'b.c']);
        if (Object.hasOwn(attrs, attr)) continue;
        attrs[attr] = value();
        xml += ` ${attr}="${escapeXml(attrs[attr]!)}"`;
      }
      const children: XmlElement[] = [];
      let text = '';
      let body = '';
      for (let i = depth < 4 ? random.int(4) : 0; i > 0; i--) {
        if (random.int(3) === 0) {
          const t = `t${value()}`;
          text += t;
          body += escapeXml(t);
        } else {
          const child = build(depth + 1);
          children.push(child.tree);
          body += child.xml;
        }
      }
      xml += body === '' && random.int(2) === 0 ? '/>' : `>${body}</${name}>`;
      return { xml, tree: { name, attrs, children, text } };
    };
    return build(0);
  };

  const started = performance.now();
  let inputs = 0;
  let read = 0;
  let refused = 0;
  for (let i = 0; i < MAX_INPUTS && performance.now() - started < BUDGET_MS; i++) {
    inputs++;
    // Whole real CIBs are slow to read (and go through the importer too), so most mutations
    // take a window of one: the reader's edges are the same.
    const kind = random.int(16);
    const window = (): string => {
      const from = random.int(fixture.length);
      return fixture.slice(from, from + 100 + random.int(1500));
    };
    const doc =
      kind === 0 ? { xml: mutate(fixture), tree: undefined }
      : kind < 7 ? { xml: mutate(window()), tree: undefined }
      : kind < 11 ? { xml: soup(), tree: undefined }
      : generated();
    const where = `seed ${SEED}, input ${i}: ${JSON.stringify(doc.xml.slice(0, 300))}`;
    try {
      const tree = parseXml(doc.xml);
      read++;
      if (doc.tree !== undefined) assert.deepEqual(tree, doc.tree, `a generated document reads back as written (${where})`);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      assert.ok(isSanodeError(error) && error.code === 'SANODE_INVALID_CIB', `parseXml threw ${String(error)} (${where})`);
      assert.ok(doc.tree === undefined, `a generated well-formed document was refused: ${String(error)} (${where})`);
      refused++;
    }
    if (kind === 0) {
      try {
        importPacemakerXml(doc.xml);
      } catch (error) {
        assert.ok(isSanodeError(error), `importPacemakerXml threw ${String(error)} (${where})`);
      }
    }
  }
  // Both outcomes must be exercised, or the generators have drifted into one corner.
  assert.ok(read > 0 && refused > 0, `read ${read}, refused ${refused}`);
  console.log(`xml fuzz: ${inputs} inputs in ${Math.round(performance.now() - started)} ms (read ${read}, refused ${refused}), seed ${SEED}`);
});
