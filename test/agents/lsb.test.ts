/** The lsb agent against init scripts written here, following (and, on purpose, bending) LSB. */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { lsb, type LsbParams } from '../../agents/lsb.js';
import { OCF, type AgentContext } from '../../agents/types.js';
import { rcOf, tempDir, writeScript } from './fixtures/helpers.js';

function ctx(params: LsbParams = {}): AgentContext<LsbParams> {
  return { params, signal: AbortSignal.timeout(30_000) };
}

/** A service whose "process" is a state file; its stop fails when already stopped (a common bug). */
async function initScript(dir: string): Promise<void> {
  await writeScript(join(dir, 'snt-svc'), `
#!/bin/sh
echo "$1" >> "${dir}/calls.log"
case "$1" in
  start)
    [ -e "${dir}/not-installed" ] && { echo "daemon binary missing" >&2; exit 5; }
    touch "${dir}/running"; exit 0;;
  stop)
    [ -e "${dir}/running" ] || { echo "not running" >&2; exit 1; }
    rm -f "${dir}/running"; exit 0;;
  status)
    [ -e "${dir}/running" ] && exit 0
    [ -e "${dir}/stale-pid" ] && exit 1
    exit 3;;
  *) exit 3;;
esac
`);
}

test('lsb: start, status and stop of /etc/init.d-style script, with status codes mapped', async (t) => {
  const dir = await tempDir(t, 'lsb');
  await initScript(dir);
  const agent = lsb({ name: 'snt-svc' }, { initDir: dir });
  await agent.validate!(ctx());
  assert.equal(await agent.monitor(ctx()), 'not-running');
  await agent.start(ctx());
  assert.equal(await agent.monitor(ctx()), 'running');
  await agent.stop(ctx());
  assert.equal(await agent.monitor(ctx()), 'not-running');
  // The script's stop exits 1 when stopped; status says 3, so stop still succeeds.
  await agent.stop(ctx());
  await writeFile(join(dir, 'stale-pid'), '');
  assert.equal(await agent.monitor(ctx()), 'failed', 'status 1: dead with a pid file');
  assert.equal(await rcOf(agent.stop(ctx())), OCF.ERR_GENERIC, 'stop failed and status does not say stopped');
  const log = (await readFile(join(dir, 'calls.log'), 'utf8')).trim().split('\n');
  assert.deepEqual(log, ['status', 'start', 'status', 'stop', 'status', 'stop', 'status', 'status', 'stop', 'status']);
});

test('lsb: start exit codes keep their meaning; a missing script is ERR_INSTALLED but stops fine', async (t) => {
  const dir = await tempDir(t, 'lsb');
  await initScript(dir);
  await writeFile(join(dir, 'not-installed'), '');
  const agent = lsb({}, { initDir: dir });
  assert.equal(await rcOf(agent.start(ctx({ name: 'snt-svc' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.validate!(ctx({ name: 'snt-none' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.monitor(ctx({ name: 'snt-none' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.stop(ctx({ name: 'snt-none' }))), 'ok');
  assert.equal(await rcOf(agent.start(ctx({ name: '../bin/sh' }))), OCF.ERR_CONFIGURED);
  assert.equal(await rcOf(agent.start(ctx({}))), OCF.ERR_CONFIGURED);
});
