/**
 * The ocf agent against real resource agents from Debian's resource-agents package (Dummy, and
 * IPaddr2 inside a lab namespace), plus probe scripts written here for the environment, the exit
 * code mapping and the kill of a hung script.
 */
import assert from 'node:assert/strict';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ocf, type OcfParams } from '../../agents/ocf.js';
import { AgentError, OCF, type AgentContext } from '../../agents/types.js';
import { NetnsLab, netnsUnavailable, run } from '../helpers/netns.js';
import { isAlive, killIfAlive, rcOf, readPid, tempDir, waitUntil, writeScript } from './fixtures/helpers.js';

const OCF_ROOT = process.env['OCF_ROOT'] ?? '/usr/lib/ocf';

function ctx(params: OcfParams = {}, signal = AbortSignal.timeout(60_000)): AgentContext<OcfParams> {
  return { params, signal };
}

async function heartbeatAgent(type: string): Promise<string | undefined> {
  const path = join(OCF_ROOT, 'resource.d', 'heartbeat', type);
  try {
    await access(path);
    return undefined;
  } catch {
    return `${path} missing: install Debian package resource-agents`;
  }
}

test('ocf:heartbeat:Dummy: start, monitor, stop, with its state file as a parameter', async (t) => {
  const missing = await heartbeatAgent('Dummy');
  if (missing) return t.skip(missing);
  const dir = await tempDir(t, 'ocf');
  const state = join(dir, 'dummy.state');
  const agent = ocf({ provider: 'heartbeat', type: 'Dummy', instance: 'snt-dummy' });
  const params = { state };
  await agent.validate!(ctx(params));
  assert.equal(await agent.monitor(ctx(params)), 'not-running');
  await agent.start(ctx(params));
  await access(state); // Dummy got OCF_RESKEY_state
  assert.equal(await agent.monitor(ctx(params)), 'running');
  await agent.stop(ctx(params));
  await assert.rejects(access(state));
  assert.equal(await agent.monitor(ctx(params)), 'not-running');
  await agent.stop(ctx(params)); // stop when stopped succeeds
});

test('ocf:heartbeat:Dummy named by params, and its meta-data', async (t) => {
  const missing = await heartbeatAgent('Dummy');
  if (missing) return t.skip(missing);
  const dir = await tempDir(t, 'ocf');
  const params = { provider: 'heartbeat', type: 'Dummy', state: join(dir, 's') };
  const byParams = ocf();
  await byParams.start(ctx(params));
  assert.equal(await byParams.monitor(ctx(params)), 'running');
  await byParams.stop(ctx(params));
  const xml = await ocf({ provider: 'heartbeat', type: 'Dummy' }).metaData!();
  assert.match(xml, /<resource-agent name="Dummy"/);
  assert.match(xml, /<parameter name="state"/);
  assert.equal(await rcOf(ocf().start(ctx({ provider: 'heartbeat', type: 'NoSuchAgent' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(ocf().start(ctx({ provider: '..', type: 'x' }))), OCF.ERR_CONFIGURED);
});

/** A probe agent: records its environment per action, exits with OCF_RESKEY_rc_<action>. */
async function probeRoot(dir: string): Promise<string> {
  const root = join(dir, 'ocf');
  await mkdir(join(root, 'resource.d', 'snt'), { recursive: true });
  await writeScript(join(root, 'resource.d', 'snt', 'probe'), `
#!/bin/sh
env | grep -E '^OCF_' | sort > "${dir}/env.$1"
eval "rc=\\\${OCF_RESKEY_rc_$(echo "$1" | tr - _):-0}"
echo "probe says $1" >&2
exit "$rc"
`);
  return root;
}

async function envOf(dir: string, action: string): Promise<Map<string, string>> {
  const text = await readFile(join(dir, `env.${action}`), 'utf8');
  return new Map(text.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

test('ocf environment: OCF_ROOT, functions dir, instance, meta timeout and interval, params as OCF_RESKEY_', async (t) => {
  const dir = await tempDir(t, 'ocf');
  const root = await probeRoot(dir);
  const agent = ocf({ ocfRoot: root, provider: 'snt', type: 'probe', instance: 'web-ip', timeoutMs: 7000, monitorIntervalMs: 10_000 });
  await agent.start(ctx({ ip: '10.0.0.1', cidr_netmask: 24, flag: true }));
  const start = await envOf(dir, 'start');
  assert.equal(start.get('OCF_ROOT'), root);
  assert.equal(start.get('OCF_FUNCTIONS_DIR'), join(root, 'lib', 'heartbeat'));
  assert.equal(start.get('OCF_RESOURCE_INSTANCE'), 'web-ip');
  assert.equal(start.get('OCF_RESKEY_CRM_meta_timeout'), '7000');
  assert.equal(start.get('OCF_RESKEY_CRM_meta_interval'), '0');
  assert.equal(start.get('OCF_RESKEY_ip'), '10.0.0.1');
  assert.equal(start.get('OCF_RESKEY_cidr_netmask'), '24');
  assert.equal(start.get('OCF_RESKEY_flag'), 'true');
  await agent.monitor(ctx({ CRM_meta_timeout: 3000 }));
  const monitor = await envOf(dir, 'monitor');
  assert.equal(monitor.get('OCF_RESKEY_CRM_meta_interval'), '10000');
  assert.equal(monitor.get('OCF_RESKEY_CRM_meta_timeout'), '3000', 'a CRM_meta_ param overrides');
  assert.equal(monitor.has('OCF_RESKEY_ip'), false, 'params of another call do not leak');

  // Script named by params: provider/type/path are the agent's, not the script's parameters.
  await ocf({ ocfRoot: root }).start(ctx({ provider: 'snt', type: 'probe', path: '', x: '1' }));
  const byParams = await envOf(dir, 'start');
  assert.equal(byParams.has('OCF_RESKEY_provider'), false);
  assert.equal(byParams.has('OCF_RESKEY_type'), false);
  assert.equal(byParams.get('OCF_RESKEY_x'), '1');
  assert.equal(await rcOf(agent.start(ctx({ 'bad-name': '1' }))), OCF.ERR_CONFIGURED);
});

test('ocf exit codes: 0/7/8/9 are monitor results, 1..6 keep their rc, others are generic errors', async (t) => {
  const dir = await tempDir(t, 'ocf');
  const root = await probeRoot(dir);
  const agent = ocf({ ocfRoot: root, provider: 'snt', type: 'probe' });
  const monitor = (rc: number) => agent.monitor(ctx({ rc_monitor: rc }));
  assert.equal(await monitor(0), 'running');
  assert.equal(await monitor(7), 'not-running');
  assert.equal(await monitor(8), 'running-promoted');
  assert.equal(await monitor(9), 'failed-promoted');
  for (const rc of [1, 2, 3, 4, 5, 6]) assert.equal(await rcOf(monitor(rc)), rc);
  assert.equal(await rcOf(monitor(42)), OCF.ERR_GENERIC);
  assert.equal(await rcOf(agent.start(ctx({ rc_start: 5 }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.start(ctx({ rc_start: 7 }))), OCF.ERR_GENERIC, 'start saying "not running" is a failed start');
  assert.equal(await rcOf(agent.stop(ctx({ rc_stop: 7 }))), 'ok', 'stopped is what stop wants');
  assert.equal(await rcOf(agent.stop(ctx({ rc_stop: 1 }))), OCF.ERR_GENERIC);
  assert.equal(await rcOf(agent.validate!(ctx({ rc_validate_all: 6 }))), OCF.ERR_CONFIGURED);
  assert.equal(await rcOf(agent.validate!(ctx({ rc_validate_all: 3 }))), 'ok', 'no validate-all: nothing to check');
  assert.equal(await rcOf(agent.promote!(ctx({ rc_promote: 3 }))), OCF.ERR_UNIMPLEMENTED);
  await assert.rejects(agent.start(ctx({ rc_start: 1 })), /probe says start/);
});

test('a script hanging past its timeout is killed, SIGTERM then SIGKILL, with what it forked', async (t) => {
  const dir = await tempDir(t, 'ocf');
  const hang = await writeScript(join(dir, 'hang'), `
#!/bin/sh
echo $$ > "${dir}/script.pid"
trap 'echo term >> "${dir}/got"' TERM
sleep 315 &
echo $! > "${dir}/child.pid"
# wait returns on each trapped signal; loop so only SIGKILL ends this.
while :; do wait; done
`);
  let child: number | undefined;
  let script: number | undefined;
  try {
    const agent = ocf({ path: hang, timeoutMs: 1000, killGraceMs: 500 });
    await assert.rejects(agent.start(ctx()), (error: unknown) => {
      assert.ok(error instanceof AgentError);
      assert.equal(error.rc, OCF.ERR_GENERIC);
      assert.match(error.message, /timed out after 1000 ms/);
      return true;
    });
    script = await readPid(join(dir, 'script.pid'));
    child = await readPid(join(dir, 'child.pid'));
    assert.equal((await readFile(join(dir, 'got'), 'utf8')).trim(), 'term', 'SIGTERM came first');
    await waitUntil('the script to be gone', async () => !(await isAlive(script!)));
    await waitUntil('its forked child to be gone', async () => !(await isAlive(child!)));

    // The same for the caller's own abort.
    const controller = new AbortController();
    const aborting = agent.monitor(ctx({}, controller.signal));
    await waitUntil('the script to fork again', async () => {
      const next = await readPid(join(dir, 'child.pid'));
      if (next === undefined || next === child) return false;
      child = next;
      return true;
    });
    controller.abort();
    await assert.rejects(aborting, /aborted/);
    await waitUntil('the aborted script\'s child to be gone', async () => !(await isAlive(child!)));
  } finally {
    await killIfAlive(child, 'sleep 315');
  }
});

test('ocf:heartbeat:IPaddr2 run unchanged inside a lab namespace adds and removes the address', async (t) => {
  const missing = await heartbeatAgent('IPaddr2');
  if (missing) return t.skip(missing);
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const lab = new NetnsLab();
  try {
    const ns = await lab.addNamespace('o');
    const other = await lab.addNamespace('q');
    const nic = lab.name('vo');
    await lab.addVeth(ns, nic, other, lab.name('vq'));
    await lab.addAddress(ns, nic, '10.232.0.1/24');
    const agent = ocf({ provider: 'heartbeat', type: 'IPaddr2', netns: ns, instance: `${lab.prefix}-ip` });
    const params = { ip: '10.232.0.100', cidr_netmask: 24, nic };
    const present = async (): Promise<boolean> =>
      (await run('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', nic])).stdout.includes('inet 10.232.0.100/24');
    await agent.validate!(ctx(params));
    assert.equal(await agent.monitor(ctx(params)), 'not-running');
    await agent.start(ctx(params));
    assert.ok(await present(), 'IPaddr2 added the address inside the namespace');
    assert.equal(await agent.monitor(ctx(params)), 'running');
    await agent.stop(ctx(params));
    assert.equal(await present(), false);
    assert.equal(await agent.monitor(ctx(params)), 'not-running');
  } finally {
    await lab.cleanup();
  }
});
