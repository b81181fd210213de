import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
