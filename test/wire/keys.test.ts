import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keygenCommand } from '../../lib/cli/keygen.js';
import { isSanodeError } from '../../lib/errors/index.js';
import { generateKey, loadKeyFile, Wire, writeKeyFile } from '../../lib/wire/index.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sanode-wire-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function hasCode(code: string): (error: unknown) => boolean {
  return (error: unknown) => isSanodeError(error) && error.code === code;
}

function capture(): { io: { stdout: { write(t: string): boolean }; stderr: { write(t: string): boolean } }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: { write: (t: string) => out.push(t) > 0 }, stderr: { write: (t: string) => err.push(t) > 0 } },
  };
}

describe('key files', () => {
  it('generateKey returns 32 bytes, different every time', () => {
    const a = generateKey();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, generateKey());
  });

  it('writeKeyFile writes 32 bytes with mode 0600, even under a permissive umask', async () => {
    const path = join(dir, 'authkey-mode');
    const previous = process.umask(0);
    try {
      await writeKeyFile(path);
    } finally {
      process.umask(previous);
    }
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await readFile(path)).length, 32);
  });

  it('writeKeyFile refuses to overwrite without force, and replaces the key with force', async () => {
    const path = join(dir, 'authkey-exists');
    await writeKeyFile(path);
    const first = await readFile(path);
    await assert.rejects(writeKeyFile(path), (error: unknown) => hasCode('SANODE_KEY_EXISTS')(error) && /--force/.test((error as Error).message));
    assert.deepEqual(await readFile(path), first);
    await chmod(path, 0o644);
    await writeKeyFile(path, { force: true });
    assert.notDeepEqual(await readFile(path), first);
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'a forced rewrite must not keep the old, wider mode');
  });

  it('loadKeyFile returns a 32-byte key that two nodes derive alike', async () => {
    const path = join(dir, 'authkey-load');
    await writeKeyFile(path);
    const key = await loadKeyFile(path);
    assert.equal(key.length, 32);
    assert.deepEqual(await loadKeyFile(path), key);
    assert.notDeepEqual(key, await readFile(path), 'the AEAD key is derived, not the raw bytes');
    const a = new Wire({ cluster: 'k', nodeId: 1, incarnation: 1, security: { mode: 'secure', key }, knownNodes: [2] });
    const b = new Wire({ cluster: 'k', nodeId: 2, incarnation: 1, security: { mode: 'secure', key: await loadKeyFile(path) }, knownNodes: [1] });
    assert.equal(b.open(a.seal('keyed')[0]!, 0).kind, 'message');
  });

  it('loadKeyFile refuses a 0644 file with SANODE_KEY_TOO_OPEN and the chmod fix, unless allowed', async () => {
    const path = join(dir, 'authkey-open');
    await writeFile(path, generateKey(), { mode: 0o644 });
    await chmod(path, 0o644);
    await assert.rejects(
      loadKeyFile(path),
      (error: unknown) => hasCode('SANODE_KEY_TOO_OPEN')(error) && (error as Error).message.includes(`chmod 600 ${path}`),
    );
    assert.equal((await loadKeyFile(path, { allowOpenPermissions: true })).length, 32);
  });

  it('loadKeyFile of a missing file is SANODE_KEY_MISSING, naming keygen', async () => {
    await assert.rejects(
      loadKeyFile(join(dir, 'nope')),
      (error: unknown) => hasCode('SANODE_KEY_MISSING')(error) && /sanode keygen/.test((error as Error).message),
    );
  });

  it('loadKeyFile accepts 32..1024 bytes (a corosync 128-byte authkey works) and refuses other sizes', async () => {
    for (const [size, ok] of [[0, false], [16, false], [31, false], [32, true], [128, true], [1024, true], [1025, false], [5000, false]] as const) {
      const path = join(dir, `authkey-size-${size}`);
      await writeFile(path, Buffer.alloc(size, 3), { mode: 0o600 });
      if (ok) assert.equal((await loadKeyFile(path)).length, 32, `size ${size}`);
      else await assert.rejects(loadKeyFile(path), hasCode('SANODE_KEY_INVALID'), `size ${size}`);
    }
  });
});

describe('sanode keygen', () => {
  it('writes the key to --out, creating the directory 0700, and says what it wrote', async () => {
    const path = join(dir, 'etc', 'sanode', 'authkey');
    const { io, out, err } = capture();
    assert.equal(await keygenCommand(['--out', path], io), 0);
    assert.deepEqual(err, []);
    assert.match(out.join(''), new RegExp(`wrote 32-byte cluster key ${path.replace(/[/.]/g, '\\$&')} \\(mode 0600\\)`));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'etc', 'sanode'))).mode & 0o777, 0o700);
    assert.equal((await loadKeyFile(path)).length, 32);
  });

  it('refuses to overwrite (exit 1, SANODE_KEY_EXISTS) unless --force', async () => {
    const path = join(dir, 'cli-exists');
    assert.equal(await keygenCommand(['--out', path], capture().io), 0);
    const before = await readFile(path);
    const refused = capture();
    assert.equal(await keygenCommand(['--out', path], refused.io), 1);
    assert.match(refused.err.join(''), /SANODE_KEY_EXISTS/);
    assert.deepEqual(await readFile(path), before);
    const forced = capture();
    assert.equal(await keygenCommand(['-o', path, '--force'], forced.io), 0);
    assert.match(forced.out.join(''), /replaced/);
    assert.notDeepEqual(await readFile(path), before);
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const { io, err } = capture();
    assert.equal(await keygenCommand(['--bogus'], io), 2);
    assert.match(err.join(''), /usage: sanode keygen/);
  });
});
