import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * The sans-IO cores (DESIGN.md principle 1) take time and messages as inputs and never touch the
 * world: no clock, timer or random number, and no module that reaches a socket, a file, a child
 * process or a timer. This is what lets the simulator run the node that ships. The guard reads
 * the sources: a call hidden behind an alias would still get through, but every direct one,
 * which is how such calls creep in, does not.
 */
const CORES: Readonly<Record<string, readonly string[]>> = {
  'lib/totem': [],
  'lib/quorum': [],
  'lib/controller': [],
  'lib/scheduler': [],
  'lib/node': [],
  // persist.ts and load.ts are the CIB's I/O edge (the runtime's), not part of the replica.
  'lib/cib': ['persist.ts', 'load.ts'],
};

const FORBIDDEN_CALLS = ['Date.now', 'performance.now', 'new Date', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'Math.random', 'process.hrtime', 'process.nextTick', 'crypto.randomBytes', 'randomUUID'];
const FORBIDDEN_MODULES = ['fs', 'dgram', 'net', 'child_process', 'timers', 'timers/promises', 'perf_hooks', 'worker_threads', 'http', 'https', 'os'];

function repoRoot(): URL {
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 6 && !existsSync(new URL('lib/node/driver.ts', dir)); i++) dir = new URL('../', dir);
  return dir;
}

/** Source without comments, so a comment may explain why a clock is NOT read here. */
function code(path: URL): string {
  return readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
}

/** What in this source breaks the sans-IO rule: forbidden calls, I/O modules, imports of I/O layers. */
function impurities(src: string): string[] {
  const found: string[] = [];
  for (const bad of FORBIDDEN_CALLS) if (src.includes(bad)) found.push(`uses ${bad}`);
  for (const m of src.matchAll(/from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|require\(\s*'([^']+)'\s*\)/g)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    if (FORBIDDEN_MODULES.includes(spec.replace(/^node:/, ''))) found.push(`imports ${spec}`);
    // A core may use other cores and pure helpers, never the runtime, the transport or the agents.
    else if (/(^|\/)(runtime|transport|executor|storage)\//.test(spec) || /\/agents\/(?!types)/.test(spec)) found.push(`imports ${spec}, an I/O layer`);
  }
  return found;
}

for (const [folder, edges] of Object.entries(CORES)) {
  test(`${folder} is sans-IO: no clock, timer or randomness, no I/O modules`, () => {
    const dir = new URL(`${folder}/`, repoRoot());
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !edges.includes(f));
    assert.ok(files.length > 0, `${folder} has sources`);
    const found = files.flatMap((f) => impurities(code(new URL(f, dir))).map((what) => `${folder}/${f} ${what}`));
    assert.deepEqual(found, []);
  });
}

test('the guard finds each kind of impurity, and none in a pure snippet', () => {
  const impure = [
    "import { readFileSync } from 'node:fs';",
    "import { spawn } from 'child_process';",
    "import { ResourceManager } from '../runtime/resource-manager.js';",
    "import { vip } from '../../agents/vip.js';",
    'const t = Date.now() + performance.now();',
    'setTimeout(() => Math.random(), 1);',
  ].join('\n');
  assert.deepEqual(impurities(impure).sort(), [
    "imports '../../agents/vip.js', an I/O layer".replace(/'/g, ''),
    "imports '../runtime/resource-manager.js', an I/O layer".replace(/'/g, ''),
    'imports child_process',
    'imports node:fs',
    'uses Date.now',
    'uses Math.random',
    'uses performance.now',
    'uses setTimeout',
  ].sort());
  const pure = "import { OCF } from '../../agents/types.js';\nimport { createHash } from 'node:crypto';\nexport const x = (nowMs: number) => nowMs + 1;";
  assert.deepEqual(impurities(pure), []);
});
