/**
 * The README's TypeScript snippets type-check against the library as printed: each ```ts block
 * is compiled as its own ES module, with `sanode` and `sanode/agents` resolved to this tree.
 * Names a snippet leaves to the reader (doLeaderWork, the agent hooks) are declared in a
 * prelude, never added to the snippet. test/e2e/readme-snippets-run.test.ts runs them as printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PRELUDE = 'declare function doLeaderWork(epoch: number): Promise<void>;\n';

test("the README's TypeScript snippets compile against the library", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(snippets.length >= 2, 'the README has its snippets');
  const files = new Map(snippets.map((code, i) => [join(root, `readme-snippet-${i}.ts`), `${PRELUDE}${code}\nexport {};\n`]));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    baseUrl: root,
    paths: { sanode: ['lib/index.ts'], 'sanode/agents': ['agents/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  const program = ts.createProgram([...files.keys()], options, host);
  // The 0-based line in the compiled file is the 1-based line in the snippet: the prelude is one line.
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file !== undefined && files.has(d.file.fileName))
    .map((d) => `${d.file!.fileName.slice(root.length + 1)}:${d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  assert.deepEqual(problems, []);
});
