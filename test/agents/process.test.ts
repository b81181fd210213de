import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createProcessAgent, type ProcessParams } from '../../agents/process.js';
import { OCF } from '../../agents/types.js';
import { Executor } from '../../lib/executor/index.js';
import { alive, killByPid, Started, waitFor } from '../helpers/processes.js';

const NODE = process.execPath;
const SLEEPER = 'setInterval(() => {}, 1000)';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** Every PID the tests started, killed by PID (and group) if a test hangs past its finally. */
const started = new Started();

/** A temp dir and the PIDs a test started, all removed or killed (by PID) in finally. */
class Scratch {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'sanode-process-'));
  private readonly pids = new Set<number>();

  constructor() {
    started.dirs.add(this.dir);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  track(pid: number | undefined): number {
    assert.ok(pid !== undefined, 'expected a PID');
    this.pids.add(pid);
    started.pids.add(pid);
    return pid;
  }

  cleanup(): void {
    for (const pid of this.pids) {
      killByPid(pid);
      started.pids.delete(pid);
    }
    rmSync(this.dir, { recursive: true, force: true });
    started.dirs.delete(this.dir);
  }
}

const ctx = (params: ProcessParams) => ({ params, signal: new AbortController().signal });

describe('process agent', () => {
  after(() => started.clear());
  it('starts a command, sees it running, stops it, and stop is idempotent', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER] };
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      await agent.start(ctx(params));
      const pid = scratch.track(agent.pidOf(params));
      assert.ok(alive(pid));
      assert.equal(await agent.monitor(ctx(params)), 'running');
      await agent.start(ctx(params));
      assert.equal(agent.pidOf(params), pid, 'a second start does not spawn a second copy');
      await agent.stop(ctx(params));
      assert.equal(alive(pid), false);
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      await agent.stop(ctx(params));
    } finally {
      scratch.cleanup();
    }
  });

  it('stop escalates to SIGKILL for a child that ignores SIGTERM', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const script = `
        const fs = require('node:fs');
        process.on('SIGTERM', () => fs.appendFileSync(process.env.TERM_LOG, 'TERM\\n'));
        fs.writeFileSync(process.env.READY, 'ready');
        ${SLEEPER};`;
      const params: ProcessParams = {
        command: NODE,
        args: ['-e', script],
        env: { TERM_LOG: scratch.file('term.log'), READY: scratch.file('ready') },
        stopTimeoutMs: '300',
      };
      await agent.start(ctx(params));
      const pid = scratch.track(agent.pidOf(params));
      // Until the handler is installed, SIGTERM's default action would kill it and prove nothing.
      await waitFor('the child to trap SIGTERM', () => existsSync(scratch.file('ready')));
      await agent.stop(ctx(params));
      assert.equal(alive(pid), false);
      assert.match(readFileSync(scratch.file('term.log'), 'utf8'), /TERM/, 'SIGTERM came first, and was ignored');
    } finally {
      scratch.cleanup();
    }
  });

  it('stop kills the whole process group, grandchildren included', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const script = `
        const { spawn } = require('node:child_process');
        const fs = require('node:fs');
        const child = spawn(process.execPath, ['-e', ${JSON.stringify(SLEEPER)}], { stdio: 'ignore' });
        fs.writeFileSync(process.env.CHILD_PID, String(child.pid));
        ${SLEEPER};`;
      const params: ProcessParams = { command: NODE, args: ['-e', script], env: `CHILD_PID=${scratch.file('child.pid')}` };
      await agent.start(ctx(params));
      const pid = scratch.track(agent.pidOf(params));
      await waitFor('the grandchild', () => existsSync(scratch.file('child.pid')) && readFileSync(scratch.file('child.pid'), 'utf8') !== '');
      const grandchild = scratch.track(Number(readFileSync(scratch.file('child.pid'), 'utf8')));
      assert.ok(alive(grandchild));
      await agent.stop(ctx(params));
      assert.equal(alive(pid), false);
      assert.equal(alive(grandchild), false);
    } finally {
      scratch.cleanup();
    }
  });

  it('a start after the leader died first kills the children it left behind', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const script = `
        const { spawn } = require('node:child_process');
        const fs = require('node:fs');
        const child = spawn(process.execPath, ['-e', ${JSON.stringify(SLEEPER)}], { stdio: 'ignore' });
        fs.writeFileSync(process.env.CHILD_PID, String(child.pid));
        ${SLEEPER};`;
      const params: ProcessParams = { command: NODE, args: ['-e', script], env: { CHILD_PID: scratch.file('child.pid') } };
      await agent.start(ctx(params));
      const leader = scratch.track(agent.pidOf(params));
      await waitFor('the grandchild', () => existsSync(scratch.file('child.pid')) && readFileSync(scratch.file('child.pid'), 'utf8') !== '');
      const orphan = scratch.track(Number(readFileSync(scratch.file('child.pid'), 'utf8')));
      rmSync(scratch.file('child.pid'));
      process.kill(leader, 'SIGKILL');
      await waitFor('the leader to die', () => !alive(leader));
      assert.ok(alive(orphan));
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      await agent.start(ctx(params));
      const next = scratch.track(agent.pidOf(params));
      await waitFor('the orphan to be killed', () => !alive(orphan));
      assert.notEqual(next, leader);
      assert.equal(await agent.monitor(ctx(params)), 'running');
      await waitFor('the new grandchild', () => existsSync(scratch.file('child.pid')) && readFileSync(scratch.file('child.pid'), 'utf8') !== '');
      scratch.track(Number(readFileSync(scratch.file('child.pid'), 'utf8')));
      await agent.stop(ctx(params));
      assert.equal(alive(next), false);
    } finally {
      scratch.cleanup();
    }
  });

  it('a child that died is reported not-running, and stop still succeeds', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    const executor = new Executor();
    try {
      const agent = createProcessAgent();
      executor.register('svc', agent, { command: NODE, args: ['-e', SLEEPER] });
      assert.equal((await executor.exec('svc', 'start')).rc, OCF.SUCCESS);
      const pid = scratch.track(agent.pidOf({ command: NODE, args: ['-e', SLEEPER] }));
      process.kill(pid, 'SIGKILL');
      await waitFor('the child to die', () => !alive(pid));
      const monitor = await executor.exec('svc', 'monitor');
      assert.equal(monitor.rc, OCF.NOT_RUNNING);
      assert.equal(monitor.failed, true);
      assert.equal((await executor.exec('svc', 'stop')).rc, OCF.SUCCESS);
      // A command that exits during start fails the start.
      executor.register('quick', agent, { command: NODE, args: ['-e', 'process.exit(3)'], checkIntervalMs: '20', tcpPort: '1' });
      const quick = await executor.exec('quick', 'start', { timeoutMs: 20_000 });
      assert.equal(quick.rc, OCF.ERR_GENERIC);
      assert.match(quick.message ?? '', /exited with code 3 during start/);
    } finally {
      await executor.close();
      scratch.cleanup();
    }
  });

  it('start waits for the HTTP health check, and monitor follows it', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const port = await freePort();
      const script = `
        const fs = require('node:fs');
        const http = require('node:http');
        setTimeout(() => {
          http.createServer((req, res) => {
            res.statusCode = fs.existsSync(process.env.SICK) ? 503 : 204;
            res.end();
          }).listen(Number(process.env.PORT), '127.0.0.1');
        }, 300);`;
      const params: ProcessParams = {
        command: NODE,
        args: ['-e', script],
        env: { PORT: String(port), SICK: scratch.file('sick') },
        healthUrl: `http://127.0.0.1:${port}/health`,
        checkIntervalMs: 50,
      };
      await agent.start(ctx(params));
      scratch.track(agent.pidOf(params));
      // The server starts listening only after a delay: start must have waited for it.
      assert.equal(await httpStatus(`http://127.0.0.1:${port}/`), 204);
      assert.equal(await agent.monitor(ctx(params)), 'running');
      writeFileSync(scratch.file('sick'), '');
      assert.equal(await agent.monitor(ctx(params)), 'failed', 'alive but unhealthy (503) is a failure');
      rmSync(scratch.file('sick'));
      assert.equal(await agent.monitor(ctx(params)), 'running');
      await agent.stop(ctx(params));
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
    } finally {
      scratch.cleanup();
    }
  });

  it('a health check that never passes times the start out and leaves no process behind', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    const executor = new Executor({ abandonGraceMs: 5000 });
    try {
      const agent = createProcessAgent();
      const port = await freePort();
      const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER], healthUrl: `http://127.0.0.1:${port}/`, checkIntervalMs: 50, name: 'never-healthy' };
      executor.register('web', agent, params);
      const pids: number[] = [];
      const poll = setInterval(() => {
        const pid = agent.pidOf(params);
        if (pid !== undefined && !pids.includes(pid)) pids.push(scratch.track(pid));
      }, 10);
      let result;
      try {
        result = await executor.exec('web', 'start', { timeoutMs: 1500 });
        // The executor waits for the aborted start to wind down before the next operation.
        await executor.exec('web', 'validate');
      } finally {
        clearInterval(poll);
      }
      assert.equal(result.timedOut, true);
      assert.equal(result.rc, OCF.ERR_GENERIC);
      assert.ok(pids.length > 0, 'the process was started');
      for (const pid of pids) await waitFor(`PID ${pid} to be killed`, () => !alive(pid));
      assert.equal(agent.pidOf(params), undefined);
    } finally {
      await executor.close();
      scratch.cleanup();
    }
  });

  it('monitors with a TCP check', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const agent = createProcessAgent();
      const port = await freePort();
      const script = `require('node:net').createServer((s) => s.end()).listen(Number(process.env.PORT), '127.0.0.1');`;
      const params: ProcessParams = { command: NODE, args: ['-e', script], env: { PORT: String(port) }, tcpHost: '127.0.0.1', tcpPort: String(port), checkIntervalMs: 50 };
      await agent.start(ctx(params));
      const pid = scratch.track(agent.pidOf(params));
      assert.equal(await agent.monitor(ctx(params)), 'running');
      // The same command with a check on a port nobody listens on.
      const closed = await freePort();
      assert.equal(await agent.monitor(ctx({ ...params, tcpPort: closed })), 'failed');
      await agent.stop(ctx(params));
      assert.equal(alive(pid), false);
    } finally {
      scratch.cleanup();
    }
  });

  it('a pidFile lets a new agent find, probe and stop the process; a stale one is ignored', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    try {
      const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER], pidFile: scratch.file('svc.pid') };
      const first = createProcessAgent();
      await first.start(ctx(params));
      const pid = scratch.track(first.pidOf(params));
      assert.equal(readFileSync(scratch.file('svc.pid'), 'utf8').trim(), String(pid));
      // As after a restart of the node's process: a fresh agent with no memory of the child.
      const second = createProcessAgent();
      assert.equal(await second.monitor(ctx(params)), 'running');
      await second.stop(ctx(params));
      assert.equal(alive(pid), false);
      assert.equal(existsSync(scratch.file('svc.pid')), false);
      // A PID file naming a process that is not one the agent started is never trusted: one
      // that does not lead its own group, and one that runs another command.
      const others = [spawn(NODE, ['-e', SLEEPER], { stdio: 'ignore' }), spawn('sleep', ['60'], { stdio: 'ignore', detached: true })];
      for (const other of others) scratch.track(other.pid);
      // After 'spawn' the child has exec'd: its cmdline is its own, not a copy of ours.
      await Promise.all(others.map((other) => once(other, 'spawn')));
      for (const other of others) {
        const otherPid = scratch.track(other.pid);
        writeFileSync(scratch.file('svc.pid'), String(otherPid));
        const third = createProcessAgent();
        assert.equal(await third.monitor(ctx(params)), 'not-running');
        await third.stop(ctx(params));
        assert.equal(existsSync(scratch.file('svc.pid')), false);
        assert.ok(alive(otherPid), 'the process named in a stale PID file is left alone');
      }
    } finally {
      scratch.cleanup();
    }
  });

  it('keeps instances apart and maps spawn errors and bad parameters to OCF codes', { timeout: 60_000 }, async () => {
    const scratch = new Scratch();
    const executor = new Executor();
    try {
      const agent = createProcessAgent();
      executor.register('a', agent, { command: NODE, args: ['-e', SLEEPER], name: 'a' });
      executor.register('b', agent, { command: NODE, args: ['-e', SLEEPER], name: 'b' });
      await executor.exec('a', 'start');
      await executor.exec('b', 'start');
      const a = scratch.track(agent.pidOf({ command: NODE, name: 'a' }));
      const b = scratch.track(agent.pidOf({ command: NODE, name: 'b' }));
      assert.notEqual(a, b);
      await executor.exec('a', 'stop');
      assert.equal(alive(a), false);
      assert.equal(alive(b), true, 'stopping one instance leaves the other');
      assert.equal((await executor.exec('b', 'monitor')).rc, OCF.SUCCESS);
      await executor.exec('b', 'stop');

      executor.register('missing', agent, { command: scratch.file('no-such-binary') });
      assert.equal((await executor.exec('missing', 'start')).rc, OCF.ERR_INSTALLED);
      executor.register('bad', agent, { command: '' } as ProcessParams);
      assert.equal((await executor.exec('bad', 'validate')).rc, OCF.ERR_CONFIGURED);
      executor.register('port', agent, { command: NODE, tcpPort: '70000' });
      assert.equal((await executor.exec('port', 'validate')).rc, OCF.ERR_CONFIGURED);
      executor.register('url', agent, { command: NODE, healthUrl: 'ftp://x' });
      assert.equal((await executor.exec('url', 'start')).rc, OCF.ERR_CONFIGURED);
      assert.match((await executor.exec('url', 'meta-data')).metaData ?? '', /name="process"/);
    } finally {
      await executor.close();
      scratch.cleanup();
    }
  });
});
