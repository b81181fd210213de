/**
 * The `sanode` command line run in-process (its output captured), and a bounded wait on a node's
 * status stream for a state, for the tests that drive nodes only through their admin sockets.
 */
import assert from 'node:assert/strict';
import { adminWatch } from '../../lib/admin/client.js';
import type { StatusReport } from '../../lib/admin/report.js';
import { runCli } from '../../lib/cli/program.js';

export async function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env });
  return { code, out, err };
}

/** Resolves with the first status report that satisfies `ok`; fails after `limitMs` with the last one seen. */
export async function untilStatus(socket: string, what: string, ok: (r: StatusReport) => boolean, limitMs: number): Promise<StatusReport> {
  const stop = new AbortController();
  let last: StatusReport | undefined;
  let found: StatusReport | undefined;
  const guard = setTimeout(() => stop.abort(), limitMs);
  try {
    await adminWatch(
      socket,
      (r) => {
        last = r as StatusReport;
        if (found === undefined && ok(last)) {
          found = last;
          stop.abort();
        }
      },
      stop.signal,
    );
  } finally {
    clearTimeout(guard);
  }
  assert.ok(found !== undefined, `gave up waiting for ${what}; last status: ${JSON.stringify(last?.resources)} quorum ${JSON.stringify(last?.quorum)}`);
  return found;
}

/** The nodes a primitive runs on, in a status report. */
export const runningOn = (r: StatusReport, rsc: string): string[] => r.resources.find((x) => x.id === rsc)?.running.map((a) => a.node) ?? [];
