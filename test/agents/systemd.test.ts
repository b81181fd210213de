/**
 * The systemd agent against a fake `systemctl` that records its calls and keeps unit states in
 * files. The test machines run no systemd, so this proves the commands sent and how answers are
 * mapped, not real systemd's behaviour.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemd, type SystemdParams } from '../../agents/systemd.js';
import { OCF, type AgentContext } from '../../agents/types.js';
import { rcOf, tempDir, writeScript } from './fixtures/helpers.js';

function ctx(params: SystemdParams = {}): AgentContext<SystemdParams> {
  return { params, signal: AbortSignal.timeout(30_000) };
}

/** Units whose name starts with "missing" are not installed; a file per unit holds its state. */
async function fakeSystemctl(dir: string, name = 'systemctl'): Promise<string> {
  return writeScript(join(dir, name), `
#!/bin/sh
echo "$*" >> "${dir}/calls.log"
for unit; do :; done
case "$1" in
  start)
    case "$unit" in missing*) echo "Failed to start $unit: Unit $unit not found." >&2; exit 5;; esac
    [ -e "${dir}/fail-start" ] && { echo "Job for $unit failed." >&2; echo failed > "${dir}/$unit"; exit 1; }
    echo active > "${dir}/$unit"; exit 0;;
  stop)
    case "$unit" in missing*) echo "Failed to stop $unit: Unit $unit not loaded." >&2; exit 5;; esac
    echo inactive > "${dir}/$unit"; exit 0;;
  is-active)
    state=$(cat "${dir}/$unit" 2>/dev/null || echo inactive)
    echo "$state"; [ "$state" = active ] && exit 0; exit 3;;
  show)
    case "$unit" in missing*) echo not-found;; *) echo loaded;; esac; exit 0;;
esac
exit 1
`);
}

async function calls(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'calls.log'), 'utf8').catch(() => '')).trim().split('\n').filter((l) => l !== '');
}

test('systemd: start, is-active, stop on <unit>.service, and the states mapped to results', async (t) => {
  const dir = await tempDir(t, 'systemd');
  const agent = systemd({ unit: 'snt-web' }, { systemctlPath: await fakeSystemctl(dir) });
  await agent.validate!(ctx());
  assert.equal(await agent.monitor(ctx()), 'not-running');
  await agent.start(ctx());
  assert.equal(await agent.monitor(ctx()), 'running');
  for (const [state, result] of [
    ['failed', 'failed'],
    ['activating', 'running'],
    ['deactivating', 'running'],
    ['inactive', 'not-running'],
  ] as const) {
    await writeFile(join(dir, 'snt-web.service'), `${state}\n`);
    assert.equal(await agent.monitor(ctx()), result, state);
  }
  await agent.start(ctx());
  await agent.stop(ctx());
  assert.equal(await agent.monitor(ctx()), 'not-running');
  assert.deepEqual(await calls(dir), [
    'show --property=LoadState --value snt-web.service',
    'is-active snt-web.service',
    'start snt-web.service',
    'is-active snt-web.service',
    'is-active snt-web.service',
    'is-active snt-web.service',
    'is-active snt-web.service',
    'is-active snt-web.service',
    'start snt-web.service',
    'stop snt-web.service',
    'is-active snt-web.service',
  ]);
  // A unit type given explicitly is kept; params win over the factory's defaults.
  await agent.start(ctx({ unit: 'snt-backup.timer' }));
  assert.equal((await calls(dir)).at(-1), 'start snt-backup.timer');
});

test('systemd: a failed start is an error; a unit that is not installed is ERR_INSTALLED, and stopping it succeeds', async (t) => {
  const dir = await tempDir(t, 'systemd');
  const agent = systemd({}, { systemctlPath: await fakeSystemctl(dir) });
  await writeFile(join(dir, 'fail-start'), '');
  assert.equal(await rcOf(agent.start(ctx({ unit: 'snt-web' }))), OCF.ERR_GENERIC);
  assert.equal(await agent.monitor(ctx({ unit: 'snt-web' })), 'failed');
  assert.equal(await rcOf(agent.start(ctx({ unit: 'missing-app' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.validate!(ctx({ unit: 'missing-app' }))), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(agent.stop(ctx({ unit: 'missing-app' }))), 'ok');
  assert.equal(await rcOf(agent.start(ctx({ unit: '--now' }))), OCF.ERR_CONFIGURED);
  assert.equal(await rcOf(agent.start(ctx({}))), OCF.ERR_CONFIGURED);
  const nowhere = systemd({ unit: 'snt-web' }, { systemctlPath: join(dir, 'no-systemctl') });
  assert.equal(await rcOf(nowhere.validate!(ctx())), OCF.ERR_INSTALLED);
  assert.equal(await rcOf(nowhere.start(ctx())), OCF.ERR_INSTALLED);
});

test('systemd: without systemctlPath, systemctl is found through PATH', async (t) => {
  const dir = await tempDir(t, 'systemd');
  await fakeSystemctl(dir);
  const savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
  try {
    const agent = systemd({ unit: 'snt-web' });
    await agent.start(ctx());
    assert.equal(await agent.monitor(ctx()), 'running');
  } finally {
    process.env['PATH'] = savedPath;
  }
  assert.deepEqual(await calls(dir), ['start snt-web.service', 'is-active snt-web.service']);
});
