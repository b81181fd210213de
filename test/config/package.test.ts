import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };

test('npm pack builds first, so an unbuilt clone never packs an empty package', () => {
  assert.match(pkg.scripts['prepack'] ?? '', /npm run build/);
});

test("every file the README links to exists and is shipped in the package's files", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(((?!https?:)[^)#]+)\)/g)].map((m) => m[1]!);
  assert.ok(links.length > 5);
  for (const link of links) {
    assert.ok(existsSync(join(root, link)), `${link} exists`);
    assert.ok(pkg.files.some((f) => link === f || link.startsWith(`${f}/`)), `${link} is in package.json files`);
  }
});

const shipped = (path: string): boolean => pkg.files.some((f) => path === f || path.startsWith(`${f}/`));

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

test('every relative link in the shipped docs leads to a file that is shipped too', () => {
  const docs = filesUnder('docs').filter((f) => f.endsWith('.md'));
  assert.ok(docs.length > 5);
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const m of text.matchAll(/\]\(((?!https?:|#|mailto:)[^)#]+)/g)) {
      const target = normalize(join(dirname(doc), m[1]!));
      assert.ok(!target.startsWith('..') && existsSync(join(root, target)), `${doc} links to ${m[1]}, which is not in the repository`);
      assert.ok(shipped(target), `${doc} links to ${target}, which package.json files does not ship`);
    }
  }
});

test('shipped source maps carry their sources (the .ts files are not shipped)', () => {
  const maps = pkg.files.filter((f) => f.startsWith('dist/') && existsSync(join(root, f))).flatMap((d) => filesUnder(d)).filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 20, 'the package is built (npm run build) and has its maps');
  for (const map of maps) {
    const m = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    assert.equal(m.sourcesContent?.length, m.sources.length, `${map} embeds its sources`);
    for (const [i, source] of m.sources.entries()) {
      const original = normalize(join(dirname(map), source));
      assert.equal(m.sourcesContent![i], readFileSync(join(root, original), 'utf8'), `${map} embeds the current ${original}`);
    }
  }
});

test('docs/errors.md lists every error code, and names no code that does not exist', () => {
  const source = readFileSync(join(root, 'lib', 'errors', 'index.ts'), 'utf8');
  const union = source.slice(source.indexOf('export type ErrorCode'), source.indexOf('export class SanodeError'));
  const codes = new Set([...union.matchAll(/'(SANODE_[A-Z_]+)'/g)].map((m) => m[1]!));
  assert.ok(codes.size > 20, 'the ErrorCode union was found');
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  // A code is documented where it heads a row of one of the tables.
  const documented = new Set([...doc.matchAll(/^\| `(SANODE_[A-Z_]+)`/gm)].map((m) => m[1]!));
  assert.deepEqual([...codes].filter((c) => !documented.has(c)), [], 'codes without a row in docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !codes.has(c)), [], 'rows in docs/errors.md for codes that do not exist');
});
