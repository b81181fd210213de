import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BUGS, CORE_BUGS } from '../../lib/sim/bugs.js';

/**
 * The simulator's command line as the README prints it (`npm run sim -- --seeds … --nodes …
 * --faults …`, `--inject-bug`, `--list-bugs`): its summary line, its exit status, and the replay
 * command a violation prints, which must itself reproduce the violation.
 */
const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'sim', 'cli.js');

function sim(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: 120_000 }, (error, out, err) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out, err });
    });
  });
}

describe('the sim command', () => {
  it('runs the seeds it is given and ends with "N seeds, V violations", exit 0 when clean', async () => {
    const r = await sim(['--seeds', '1-3', '--nodes', '3,5', '--faults', 'all']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.out.trim().split('\n').at(-1), '3 seeds, 0 violations');
  });

  it('--list-bugs names every injectable bug, the core bugs among them', async () => {
    const r = await sim(['--list-bugs']);
    assert.equal(r.code, 0, r.err);
    const listed = new Set(r.out.split('\n').map((l) => l.trim().split(/\s/)[0]).filter((w) => w !== undefined && w !== ''));
    for (const bug of Object.keys(BUGS)) assert.ok(listed.has(bug), `${bug} is listed`);
    assert.ok(CORE_BUGS.size > 0 && [...CORE_BUGS].every((bug) => listed.has(bug)));
  });

  it('a violation exits 1 and prints a replay command that reproduces it', async () => {
    const r = await sim(['--seeds', '1', '--nodes', '3', '--faults', 'none', '--inject-bug', 'drop-delivery']);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /^VIOLATION agreed-order \(correctness\) seed 1: 3 nodes/m);
    const replay = /reproduce: npm run sim -- (.+)$/m.exec(r.out);
    assert.ok(replay !== null, 'a replay command is printed');
    const again = await sim(replay[1]!.trim().split(/\s+/));
    assert.equal(again.code, 1);
    assert.match(again.out, /^VIOLATION agreed-order \(correctness\) seed 1: 3 nodes/m);
    assert.equal(again.out.trim().split('\n').at(-1), '1 seeds, 1 violations');
  });
});
