import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createFilesystemAgent, parseMountInfo, readMounts, unescapeMountField, type FilesystemParams } from '../../agents/filesystem.js';
import { OCF } from '../../agents/types.js';
import { Executor } from '../../lib/executor/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const NEEDS_ROOT = 'needs root: mounting tmpfs and bind mounts requires CAP_SYS_ADMIN (CI runs as root)';

function mountCount(directory: string): number {
  return readMounts().filter((m) => m.mountPoint === directory).length;
}

/** A temp dir whose mounts (newest first) are undone and which is removed, even on failure. */
function scratch(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanode-fs-'));
  return {
    dir,
    cleanup: () => {
      const ours = readMounts()
        .filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`))
        .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
      for (const m of ours) {
        try {
          execFileSync('umount', [m.mountPoint], { stdio: 'ignore' });
        } catch {
          execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' });
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function skipUnlessRoot(t: TestContext): boolean {
  if (isRoot) return false;
  t.skip(NEEDS_ROOT);
  return true;
}

const ctx = (params: FilesystemParams) => ({ params, signal: new AbortController().signal });

describe('mountinfo parsing', () => {
  it('reads fields around the optional fields and undoes octal escapes', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
      '37 36 0:40 / /tmp/a\\011tab\\134slash rw - tmpfs my\\040tmpfs rw,size=1024k',
      'garbage line',
      '',
    ].join('\n');
    const mounts = parseMountInfo(text);
    assert.equal(mounts.length, 2);
    assert.deepEqual(mounts[0], {
      id: 36,
      parentId: 35,
      majorMinor: '98:0',
      root: '/mnt1',
      mountPoint: '/mnt with space',
      options: 'rw,noatime',
      fstype: 'ext3',
      source: '/dev/root',
      superOptions: 'rw,errors=continue',
    });
    assert.equal(mounts[1]?.mountPoint, '/tmp/a\ttab\\slash');
    assert.equal(mounts[1]?.source, 'my tmpfs');
    assert.equal(unescapeMountField('a\\012b'), 'a\nb');
    assert.ok(readMounts().some((m) => m.mountPoint === '/'), 'this namespace has a root mount');
  });
});

describe('filesystem agent', () => {
  it('mounts a tmpfs, sees it, unmounts it; start and stop are idempotent', { timeout: 60_000 }, async (t) => {
    if (skipUnlessRoot(t)) return;
    const s = scratch();
    try {
      const agent = createFilesystemAgent();
      // A space in the path exercises the \040 escape on a real mount.
      const directory = path.join(s.dir, 'mount point');
      const params: FilesystemParams = { device: 'sanode-test', directory, fstype: 'tmpfs', options: 'size=1m,mode=0700' };
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      await agent.start(ctx(params));
      assert.equal(await agent.monitor(ctx(params)), 'running');
      assert.equal(mountCount(directory), 1);
      const mount = readMounts().find((m) => m.mountPoint === directory);
      assert.equal(mount?.fstype, 'tmpfs');
      assert.equal(mount?.source, 'sanode-test');
      writeFileSync(path.join(directory, 'data'), 'x');
      await agent.start(ctx(params));
      assert.equal(mountCount(directory), 1, 'a second start does not stack a second mount');
      await agent.stop(ctx(params));
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      assert.equal(existsSync(path.join(directory, 'data')), false, 'the file lived on the tmpfs');
      await agent.stop(ctx(params));
    } finally {
      s.cleanup();
    }
  });

  it('bind-mounts a directory', { timeout: 60_000 }, async (t) => {
    if (skipUnlessRoot(t)) return;
    const s = scratch();
    try {
      const agent = createFilesystemAgent();
      const source = path.join(s.dir, 'source');
      mkdirSync(source);
      writeFileSync(path.join(source, 'hello'), 'bound');
      const params: FilesystemParams = { device: source, directory: path.join(s.dir, 'target'), options: 'bind' };
      await agent.start(ctx(params));
      assert.equal(readFileSync(path.join(s.dir, 'target', 'hello'), 'utf8'), 'bound');
      assert.equal(await agent.monitor(ctx(params)), 'running');
      await agent.stop(ctx(params));
      assert.equal(existsSync(path.join(s.dir, 'target', 'hello')), false);
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
    } finally {
      s.cleanup();
    }
  });

  it('a busy unmount fails, or with forceUnmount is retried until the holder lets go', { timeout: 60_000 }, async (t) => {
    if (skipUnlessRoot(t)) return;
    const s = scratch();
    let holder: ReturnType<typeof spawn> | undefined;
    const executor = new Executor();
    try {
      const directory = path.join(s.dir, 'busy');
      const params: FilesystemParams = { device: 'sanode-test', directory, fstype: 'tmpfs', options: 'size=1m' };
      executor.register('fs', createFilesystemAgent(), params);
      assert.equal((await executor.exec('fs', 'start')).rc, OCF.SUCCESS);
      // Our own process, whose working directory keeps the mount busy.
      holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { cwd: directory, stdio: 'ignore' });
      await once(holder, 'spawn');
      const failed = await executor.exec('fs', 'stop');
      assert.equal(failed.rc, OCF.ERR_GENERIC);
      assert.match(failed.message ?? '', /busy/);
      assert.equal((await executor.exec('fs', 'monitor')).rc, OCF.SUCCESS, 'still mounted');

      executor.register('fs', createFilesystemAgent(), { ...params, forceUnmount: 'true', retryIntervalMs: '50' });
      const stop = executor.exec('fs', 'stop', { timeoutMs: 30_000 });
      // Let a few attempts fail before the holder goes away.
      await new Promise((r) => setTimeout(r, 300));
      const pid = holder.pid;
      assert.ok(pid !== undefined);
      const exited = once(holder, 'exit');
      process.kill(pid, 'SIGKILL');
      await exited;
      assert.equal((await stop).rc, OCF.SUCCESS);
      assert.equal(mountCount(directory), 0);
    } finally {
      if (holder?.pid !== undefined && holder.exitCode === null && holder.signalCode === null) process.kill(holder.pid, 'SIGKILL');
      await executor.close();
      s.cleanup();
    }
  });

  it('unmounts stacked mounts on one directory', { timeout: 60_000 }, async (t) => {
    if (skipUnlessRoot(t)) return;
    const s = scratch();
    try {
      const agent = createFilesystemAgent();
      const directory = path.join(s.dir, 'stack');
      const params: FilesystemParams = { device: 'sanode-test', directory, fstype: 'tmpfs', options: 'size=1m' };
      await agent.start(ctx(params));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'sanode-test-2', directory]);
      assert.equal(mountCount(directory), 2);
      await agent.stop(ctx(params));
      assert.equal(mountCount(directory), 0);
    } finally {
      s.cleanup();
    }
  });

  it('validates parameters and reports mount failures in OCF terms', { timeout: 60_000 }, async () => {
    const executor = new Executor();
    const agent = createFilesystemAgent();
    const s = scratch();
    try {
      const cases: [FilesystemParams, number][] = [
        [{ device: 'x', directory: 'relative/dir', fstype: 'tmpfs' }, OCF.ERR_CONFIGURED],
        [{ device: 'x', directory: '/mnt/x' }, OCF.ERR_CONFIGURED],
        [{ device: '', directory: '/mnt/x', fstype: 'tmpfs' }, OCF.ERR_CONFIGURED],
        [{ device: 'x', directory: '/mnt/x', fstype: 'tmpfs', forceUnmount: 'perhaps' }, OCF.ERR_CONFIGURED],
        [{ device: '/src', directory: '/mnt/x', options: 'ro,bind' }, OCF.SUCCESS],
      ];
      for (const [i, [params, rc]] of cases.entries()) {
        executor.register(`v${i}`, agent, params);
        assert.equal((await executor.exec(`v${i}`, 'validate')).rc, rc, `case ${i}`);
      }
      assert.match((await executor.exec('v0', 'meta-data')).metaData ?? '', /name="filesystem"/);
      if (isRoot) {
        executor.register('bad', agent, { device: 'sanode-test', directory: path.join(s.dir, 'bad'), fstype: 'no-such-fstype' });
        const result = await executor.exec('bad', 'start');
        assert.equal(result.rc, OCF.ERR_GENERIC);
        assert.match(result.message ?? '', /mount sanode-test on .* failed/);
      }
    } finally {
      await executor.close();
      s.cleanup();
    }
  });
});
