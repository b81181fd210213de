import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { emptyCib, type Cib } from '../../lib/cib/model.js';
import { loadCib, saveCib } from '../../lib/cib/persist.js';
import { CibError } from '../../lib/cib/validate.js';
import { readStateFile, writeStateFile } from '../../lib/runtime/state-file.js';

const root = mkdtempSync(join(tmpdir(), 'sanode-cib-persist-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => mkdtempSync(join(root, `t${dirs++}-`));

const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

/** A CIB whose contents say which version it is, so a torn mix of two versions would show. */
function cibAt(epoch: number, resources = 3): Cib {
  return {
    ...emptyCib({
      nodes: [{ id: '1', name: 'n1' }],
      resources: Array.from({ length: resources }, (_, i) => ({ kind: 'primitive' as const, id: `v${epoch}-r${i}`, agent })),
    }),
    epoch,
  };
}

function loadFails(path: string, pattern: RegExp): CibError {
  try {
    loadCib(path);
  } catch (error) {
    assert.ok(error instanceof CibError, String(error));
    assert.equal(error.code, 'SANODE_INVALID_CIB');
    assert.ok(error.message.includes(path), 'the error names the file');
    assert.match(error.message, pattern);
    return error;
  }
  assert.fail('expected loadCib to throw');
}

describe('CIB persistence', () => {
  it('saves and loads a CIB, versions included; a missing file is undefined (a new node)', () => {
    const path = join(freshDir(), 'cib.json');
    assert.equal(loadCib(path), undefined);
    const cib = { ...cibAt(4), adminEpoch: 2, numUpdates: 7 };
    saveCib(path, cib);
    assert.deepEqual(loadCib(path), cib);
    saveCib(path, cibAt(5));
    assert.deepEqual(loadCib(path), cibAt(5));
    // The ring of the last write decides state exchanges (docs/cib.md), so it must survive a restart.
    saveCib(path, { ...cibAt(6), lastWriteRing: 41 });
    assert.equal(loadCib(path)?.lastWriteRing, 41);
  });

  it('a corrupt or invalid file is a typed error naming the file, never an empty CIB', () => {
    const dir = freshDir();
    const path = join(dir, 'cib.json');
    saveCib(path, cibAt(1));
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, good.slice(0, good.length / 2));
    loadFails(path, /not valid JSON at line \d+, column \d+/);
    writeFileSync(path, '');
    loadFails(path, /not valid JSON/);
    writeFileSync(path, JSON.stringify({ format: 99, ...cibAt(1) }));
    loadFails(path, /format: expected 1, got 99/);
    const doc = JSON.parse(good) as Cib & { format: number };
    doc.config.constraints = [{ kind: 'order', id: 'o', first: 'v1-r0', then: 'missing' }];
    writeFileSync(path, JSON.stringify(doc));
    loadFails(path, /unknown resource "missing"/);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(good), epoch: -1 }));
    loadFails(path, /epoch: must be a non-negative integer/);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(good), lastWriteRing: 'seven' }));
    loadFails(path, /lastWriteRing: must be a non-negative integer/);
  });

  it('a temporary file left by a crash before the rename is ignored', () => {
    const dir = freshDir();
    const path = join(dir, 'cib.json');
    saveCib(path, cibAt(1));
    writeFileSync(`${path}.tmp-424242`, '{"format":1,"adminEp');
    assert.deepEqual(loadCib(path), cibAt(1));
    saveCib(path, cibAt(2));
    assert.deepEqual(loadCib(path), cibAt(2));
  });

  it('kill -9 in the middle of saving leaves the old or the new version, whole', { timeout: 120_000 }, async () => {
    const persistUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cib', 'persist.js')).href;
    const modelUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cib', 'model.js')).href;
    // A writer that saves ever newer versions of a large CIB as fast as it can, until killed.
    const writer = `
      import { saveCib } from ${JSON.stringify(persistUrl)};
      import { emptyCib } from ${JSON.stringify(modelUrl)};
      const path = process.argv[1];
      const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' };
      for (let epoch = 1; epoch < 1_000_000; epoch++) {
        const resources = Array.from({ length: 2000 }, (_, i) => ({ kind: 'primitive', id: 'v' + epoch + '-r' + i, agent }));
        saveCib(path, { ...emptyCib({ nodes: [{ id: '1', name: 'n1' }], resources }), epoch });
        if (epoch === 2) process.stdout.write('writing\\n');
      }`;
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      const dir = freshDir();
      const path = join(dir, 'cib.json');
      const child = spawn(process.execPath, ['--input-type=module', '-e', writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      // Wait (bounded) until it has saved at least twice, then kill it after a varying delay.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the writer never started')), 30_000);
        child.stdout!.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 3 + round * 7));
      child.kill('SIGKILL');
      await exited;
      const loaded = loadCib(path);
      assert.ok(loaded !== undefined, 'a version is on disk');
      assert.ok(loaded.epoch >= 2);
      assert.equal(loaded.config.resources.length, 2000, 'whole');
      assert.ok(loaded.config.resources.every((r) => r.id.startsWith(`v${loaded.epoch}-`)), 'one version, not a mix');
      assert.ok(readdirSync(dir).every((f) => f === 'cib.json' || f.startsWith('cib.json.tmp-')), 'nothing else was written');
    }
  });

  it('the runtime state file keeps working through its re-export', () => {
    const path = join(freshDir(), 'state.json');
    assert.deepEqual(readStateFile(path, { ringSeq: 0, incarnation: 0 }), { ringSeq: 0, incarnation: 0 });
    writeStateFile(path, { ringSeq: 9 });
    assert.deepEqual(readStateFile(path, { ringSeq: 0, incarnation: 0 }), { ringSeq: 9, incarnation: 0 });
  });
});
