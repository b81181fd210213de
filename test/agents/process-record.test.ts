import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createProcessAgent, type OrphanFound, type ProcessParams } from '../../agents/process.js';
import { identityOf, readRecord, recordPath, type ProcessRecord } from '../../agents/process-record.js';
import { OCF } from '../../agents/types.js';
import { Executor } from '../../lib/executor/index.js';
import { isSanodeError } from '../../lib/errors/index.js';
import { alive, Started } from '../helpers/processes.js';

/**
 * The process agent's records (agents/process-record.ts): a child it starts is recorded with an
 * identity that survives PID reuse, a fresh agent (as in a restarted node) finds it, reports it
 * and stops it without a pidFile; a record whose PID is gone or names another process is dropped
 * and that process is never signalled; a damaged record is a typed error naming the file.
 */
const NODE = process.execPath;
const SLEEPER = 'setInterval(() => {}, 1000)';
/** Ignores SIGTERM, so only the escalation to SIGKILL ends it. */
const STUBBORN = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)";
/** Writes a file when it gets SIGTERM (and stays up), so a test can see whether it was signalled. */
const WITNESS = "const f = process.argv[1]; process.on('SIGTERM', () => require('fs').writeFileSync(f, 'TERM')); setInterval(() => {}, 1000)";

/** Every PID and dir the tests started, killed (by PID and group) and removed after the suite, and at exit if a test hangs. */
const started = new Started();

function scratchDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanode-orphan-'));
  started.dirs.add(dir);
  return dir;
}

function track(pid: number | undefined): number {
  assert.ok(pid !== undefined, 'expected a PID');
  started.pids.add(pid);
  return pid;
}

const ctx = (params: ProcessParams) => ({ params, signal: new AbortController().signal });

/** A fresh agent over `recordsDir`, as the next run of a node makes it, and what it reports. */
function restarted(recordsDir: string): { agent: ReturnType<typeof createProcessAgent>; orphans: OrphanFound[] } {
  const orphans: OrphanFound[] = [];
  return { agent: createProcessAgent({ recordsDir, onOrphan: (o) => orphans.push(o) }), orphans };
}

describe('process agent records', () => {
  after(() => started.clear());

  it('records a child with its identity; a fresh agent finds it, reports it once and stops it without a pidFile, TERM then KILL', { timeout: 60_000 }, async () => {
    const dir = scratchDir();
    const recordsDir = path.join(dir, 'agents', 'process');
    const params: ProcessParams = { command: NODE, args: ['-e', STUBBORN], name: 'svc', stopTimeoutMs: 300 };
    const first = createProcessAgent({ recordsDir });
    await first.start(ctx(params));
    const pid = track(first.pidOf(params));
    const record = readRecord(recordsDir, 'svc');
    assert.ok(record !== undefined, 'the start left a record');
    assert.equal(record.pid, pid);
    assert.deepEqual(record.identity, identityOf(pid), 'the record holds the identity /proc shows for the child');
    assert.deepEqual(record.identity.cmdline, [NODE, '-e', STUBBORN]);

    // The first agent is forgotten, as a node killed with -9 forgets; the child runs on.
    const { agent, orphans } = restarted(recordsDir);
    assert.equal(await agent.monitor(ctx(params)), 'running', 'the probe of the next run finds the recorded child');
    assert.equal(await agent.monitor(ctx(params)), 'running');
    assert.deepEqual(
      orphans.map((o) => ({ pid: o.pid, via: o.via, file: o.file, same: o.params === params })),
      [{ pid, via: 'record', file: recordPath(recordsDir, 'svc'), same: true }],
      'reported once, naming the record file',
    );
    assert.equal(agent.pidOf(params), pid);
    await agent.stop(ctx(params));
    assert.equal(alive(pid), false, 'the orphan, which ignores SIGTERM, was killed by the escalation');
    assert.equal(existsSync(recordPath(recordsDir, 'svc')), false, 'a clean stop removes the record');
    assert.equal(await restarted(recordsDir).agent.monitor(ctx(params)), 'not-running');
  });

  it('a record whose PID now names another process is dropped, and that process is never signalled', { timeout: 60_000 }, async () => {
    const dir = scratchDir();
    const recordsDir = path.join(dir, 'records');
    const witness = path.join(dir, 'witness');
    // A foreign process that looks like ours in every way a PID alone can show: it leads its
    // own group and runs the very command line. Only its start time differs from the record's.
    const foreign = spawn(NODE, ['-e', WITNESS, witness], { detached: true, stdio: 'ignore' });
    const foreignPid = track(foreign.pid);
    await once(foreign, 'spawn');
    const params: ProcessParams = { command: NODE, args: ['-e', WITNESS, witness], name: 'svc', stopTimeoutMs: 200 };
    const real = identityOf(foreignPid);
    assert.ok(real !== undefined);
    const forged: ProcessRecord = { version: 1, key: 'svc', pid: foreignPid, identity: { ...real, startTicks: real.startTicks + 1 }, recordedAtMs: 0 };
    const otherBoot: ProcessRecord = { ...forged, identity: { ...real, bootId: '00000000-0000-0000-0000-000000000000' } };
    const otherCommand: ProcessRecord = { ...forged, identity: { ...real, cmdline: ['sleep', '300'] } };
    mkdirSync(recordsDir, { recursive: true });
    for (const stale of [forged, otherBoot, otherCommand]) {
      writeFileSync(recordPath(recordsDir, 'svc'), JSON.stringify(stale), { flag: 'w' });
      const { agent, orphans } = restarted(recordsDir);
      assert.equal(await agent.monitor(ctx(params)), 'not-running');
      assert.equal(existsSync(recordPath(recordsDir, 'svc')), false, 'the stale record is removed');
      writeFileSync(recordPath(recordsDir, 'svc'), JSON.stringify(stale));
      await restarted(recordsDir).agent.stop(ctx(params));
      assert.equal(existsSync(recordPath(recordsDir, 'svc')), false);
      assert.deepEqual(orphans, [], 'nothing reported as an orphan');
    }
    // Give a stray signal time to land before looking: the witness writes its file on SIGTERM.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(existsSync(witness), false, 'the foreign process never got SIGTERM');
    assert.ok(alive(foreignPid), 'nor SIGKILL');

    // A record naming a PID with no process is dropped too.
    const gone = spawn('true', [], { stdio: 'ignore' });
    const gonePid = track(gone.pid);
    await once(gone, 'exit');
    writeFileSync(recordPath(recordsDir, 'svc'), JSON.stringify({ ...forged, pid: gonePid }));
    assert.equal(await restarted(recordsDir).agent.monitor(ctx(params)), 'not-running');
    assert.equal(existsSync(recordPath(recordsDir, 'svc')), false);
  });

  it('a damaged record is SANODE_STATE_DAMAGED naming the file, an rc through the executor, and is left in place', { timeout: 60_000 }, async () => {
    const dir = scratchDir();
    const recordsDir = path.join(dir, 'records');
    const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER], name: 'svc' };
    const file = recordPath(recordsDir, 'svc');
    // Make the directory the way the agent does, then damage the file in three ways.
    const first = createProcessAgent({ recordsDir });
    await first.start(ctx(params));
    track(first.pidOf(params));
    await first.stop(ctx(params));
    assert.deepEqual(readdirSync(recordsDir), []);
    for (const damage of ['{"version":1,"key":"svc","pid":12', '[1,2]', JSON.stringify({ version: 1, key: 'other', pid: 1234, identity: {} })]) {
      writeFileSync(file, damage);
      const { agent, orphans } = restarted(recordsDir);
      await assert.rejects(agent.monitor(ctx(params)), (error: unknown) => {
        assert.ok(isSanodeError(error), 'a typed error');
        assert.equal(error.code, 'SANODE_STATE_DAMAGED');
        assert.equal(error.field, file);
        assert.ok(error.message.includes(file), 'the message names the file');
        return true;
      });
      await assert.rejects(agent.stop(ctx(params)), (error: unknown) => isSanodeError(error) && error.code === 'SANODE_STATE_DAMAGED');
      const executor = new Executor();
      try {
        executor.register('svc', agent, params);
        const probe = await executor.exec('svc', 'probe');
        assert.equal(probe.rc, OCF.ERR_GENERIC, 'the probe fails: whether the process runs is unknown');
        assert.ok(probe.message?.includes(file), 'and its message names the file');
      } finally {
        await executor.close();
      }
      assert.equal(readFileSync(file, 'utf8'), damage, 'the damaged file is left as it was');
      assert.deepEqual(orphans, []);
    }
  });

  it('a process found by its pidFile is reported too, as via pidFile', { timeout: 60_000 }, async () => {
    const dir = scratchDir();
    const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER], pidFile: path.join(dir, 'svc.pid') };
    const first = createProcessAgent();
    await first.start(ctx(params));
    const pid = track(first.pidOf(params));
    const { agent, orphans } = restarted(path.join(dir, 'records'));
    assert.equal(await agent.monitor(ctx(params)), 'running');
    assert.deepEqual(
      orphans.map((o) => ({ pid: o.pid, via: o.via, file: o.file })),
      [{ pid, via: 'pidFile', file: params.pidFile }],
    );
    await agent.stop(ctx(params));
    assert.equal(alive(pid), false);
  });

  it('without a records directory nothing is written and a fresh agent does not find the child', { timeout: 60_000 }, async () => {
    const dir = scratchDir();
    const params: ProcessParams = { command: NODE, args: ['-e', SLEEPER], name: 'plain', cwd: dir };
    const first = createProcessAgent();
    await first.start(ctx(params));
    const pid = track(first.pidOf(params));
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(await createProcessAgent().monitor(ctx(params)), 'not-running');
    await first.stop(ctx(params));
    assert.equal(alive(pid), false);
  });
});
