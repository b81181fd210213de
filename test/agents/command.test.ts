import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandExists, runCommand } from '../../agents/command.js';
import { AgentError, OCF } from '../../agents/types.js';
import { isAlive, killIfAlive, readPid, tempDir, waitUntil, writeScript } from './fixtures/helpers.js';

test('runCommand resolves with the exit code, both outputs, stdin, env and cwd', async (t) => {
  const dir = await tempDir(t, 'cmd');
  const result = await runCommand('/bin/sh', ['-c', 'read line; echo "$line-$SNT_VALUE-$(pwd)"; echo oops >&2; exit 3'], {
    input: 'hello\n',
    env: { PATH: process.env['PATH'], SNT_VALUE: 'v1' },
    cwd: dir,
  });
  assert.equal(result.code, 3);
  assert.equal(result.signal, null);
  assert.equal(result.stdout, `hello-v1-${dir}\n`);
  assert.equal(result.stderr, 'oops\n');
  assert.equal(result.aborted, false);
  assert.equal(result.timedOut, false);
});

test('runCommand passes arguments without a shell', async () => {
  const result = await runCommand('/bin/echo', ['$HOME', '; rm -rf /', '`id`']);
  assert.equal(result.stdout, '$HOME ; rm -rf / `id`\n');
});

test('a missing program is AgentError(ERR_INSTALLED)', async () => {
  await assert.rejects(runCommand('snt-no-such-program-xyz', []), (error: unknown) => {
    assert.ok(error instanceof AgentError);
    assert.equal(error.rc, OCF.ERR_INSTALLED);
    return true;
  });
});

test('abort sends SIGTERM to the whole process group: a script and the child it forked both die', async (t) => {
  const dir = await tempDir(t, 'cmd');
  const pidFile = join(dir, 'child.pid');
  const script = await writeScript(join(dir, 'forks.sh'), `
#!/bin/sh
sleep 311 &
echo $! > ${pidFile}
wait
`);
  const controller = new AbortController();
  const running = runCommand(script, [], { signal: controller.signal, killGraceMs: 5000 });
  let child: number | undefined;
  try {
    await waitUntil('the script to fork its child', async () => (child = await readPid(pidFile)) !== undefined);
    controller.abort();
    const result = await running;
    assert.equal(result.aborted, true);
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.code, null);
    await waitUntil('the forked child to die with its group', async () => !(await isAlive(child!)));
  } finally {
    await killIfAlive(child, 'sleep 311');
  }
});

test('a group that ignores SIGTERM gets SIGKILL after killGraceMs', async (t) => {
  const dir = await tempDir(t, 'cmd');
  const pidFile = join(dir, 'child.pid');
  // trap '' makes SIGTERM ignored in the shell and in the sleep it forks.
  const script = await writeScript(join(dir, 'stubborn.sh'), `
#!/bin/sh
trap '' TERM
sleep 312 &
echo $! > ${pidFile}
while :; do wait; done
`);
  const controller = new AbortController();
  const running = runCommand(script, [], { signal: controller.signal, killGraceMs: 300 });
  let child: number | undefined;
  try {
    await waitUntil('the script to fork its child', async () => (child = await readPid(pidFile)) !== undefined);
    controller.abort();
    const result = await running;
    assert.equal(result.aborted, true);
    assert.equal(result.signal, 'SIGKILL', 'SIGTERM was ignored, so only SIGKILL can have ended it');
    await waitUntil('the forked child to be SIGKILLed too', async () => !(await isAlive(child!)));
  } finally {
    await killIfAlive(child, 'sleep 312');
  }
});

test('timeoutMs kills like an abort and says so', async () => {
  const result = await runCommand('/bin/sleep', ['313'], { timeoutMs: 200, killGraceMs: 500 });
  assert.equal(result.timedOut, true);
  assert.equal(result.aborted, false);
  assert.equal(result.signal, 'SIGTERM');
});

test('an already aborted signal starts nothing', async (t) => {
  const dir = await tempDir(t, 'cmd');
  const marker = join(dir, 'ran');
  const result = await runCommand('/bin/touch', [marker], { signal: AbortSignal.abort() });
  assert.equal(result.aborted, true);
  await assert.rejects(access(marker), 'the program never ran');
});

test('a daemon that keeps stdout open does not hold the result back', async (t) => {
  const dir = await tempDir(t, 'cmd');
  const pidFile = join(dir, 'daemon.pid');
  // The background sleep inherits stdout; waiting for the pipe to close would wait for it.
  const script = await writeScript(join(dir, 'daemonize.sh'), `
#!/bin/sh
sleep 314 &
echo $! > ${pidFile}
echo started
exit 0
`);
  let daemon: number | undefined;
  try {
    const result = await runCommand(script, []);
    daemon = await readPid(pidFile);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'started\n');
    assert.ok(daemon !== undefined && (await isAlive(daemon)), 'a normal exit must not kill what the script left running');
  } finally {
    await killIfAlive(daemon, 'sleep 314');
  }
});

test('commandExists finds programs in PATH and by path, and only executable files', async (t) => {
  const dir = await tempDir(t, 'cmd');
  assert.equal(await commandExists('sh'), true);
  assert.equal(await commandExists('/bin/sh'), true);
  assert.equal(await commandExists('snt-no-such-program-xyz'), false);
  assert.equal(await commandExists(dir), false, 'a directory is not a program');
  const script = await writeScript(join(dir, 'tool'), '#!/bin/sh\n');
  assert.equal(await commandExists('tool', { PATH: dir }), true);
  assert.equal(await commandExists('tool', { PATH: '/nonexistent' }), false);
  assert.equal(await commandExists(script), true);
});
