/**
 * `sanode status` from one node lists the failed actions of every node: they are read from the
 * CIB's operation history (replicated in agreed order), not from what the answering node saw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cib } from '../../lib/cib/model.js';
import type { ClusterStatus } from '../../lib/runtime/cluster.js';
import { buildStatusReport, formatStatus, type FailureRecord } from '../../lib/admin/report.js';

const T = Date.parse('2026-01-02T03:04:05.000Z');
const prim = (id: string) => ({ kind: 'primitive' as const, id, agent: { class: 'sanode' as const, type: 'dummy' }, ops: [{ name: 'monitor' as const, intervalMs: 2000, timeoutMs: 5000 }] });

const cib: Cib = {
  adminEpoch: 0,
  epoch: 3,
  numUpdates: 9,
  config: { properties: { stonithEnabled: false }, nodes: [{ id: '1', name: 'n1' }, { id: '2', name: 'n2' }, { id: '3', name: 'n3' }], resources: [prim('web'), prim('db'), prim('ip')] },
  status: {
    nodes: {
      // n1 answers; its own failure is one it saw (with the agent's message).
      n1: { state: 'online', resources: { ip: { ops: [{ op: 'start', intervalMs: 0, rc: 1, timeMs: T + 3000, callId: 4 }], failCount: 1, lastFailureMs: T + 3000 } } },
      // n2: web's monitor failed (and web was recovered: the failed monitor stays, as crm_mon's last failure).
      n2: {
        state: 'online',
        resources: {
          web: {
            ops: [
              { op: 'start', intervalMs: 0, rc: 0, timeMs: T + 2000, callId: 3 },
              { op: 'monitor', intervalMs: 2000, rc: 7, timeMs: T, callId: 2 },
            ],
            failCount: 1,
          },
        },
      },
      // n3: db's start failed; its probe said "not running" (an answer, not a failure); a pending start is no failure.
      n3: {
        state: 'online',
        resources: {
          db: { ops: [{ op: 'monitor', intervalMs: 0, rc: 7, timeMs: T - 5000, callId: 1 }, { op: 'start', intervalMs: 0, rc: 5, timeMs: T + 1000, callId: 2 }] },
          ip: { ops: [{ op: 'start', intervalMs: 0, rc: 193, timeMs: T + 4000, callId: 3 }] },
        },
      },
    },
  },
};

const status = {
  cluster: 'c',
  node: { id: 1, name: 'n1', incarnation: 1 },
  view: { id: { seq: 4, rep: 1 }, members: [1, 2, 3] },
  quorum: { quorate: true, reason: 'quorate' },
  coordinator: 1,
  leading: true,
  epoch: 2,
  links: [],
  drops: {},
} as unknown as ClusterStatus;

test("status lists every node's failed actions from the CIB's history, oldest first, with reason and time", () => {
  const seen: FailureRecord[] = [{ rsc: 'ip', node: 'n1', op: 'start', intervalMs: 0, rc: 1, message: 'address in use', at: 'whenever' }];
  const report = buildStatusReport(status, { cib, version: { adminEpoch: 0, epoch: 3, numUpdates: 9 }, synced: true }, seen);
  assert.deepEqual(report.failures, [
    { rsc: 'web', node: 'n2', op: 'monitor', intervalMs: 2000, rc: 7, reason: 'not-running', at: '2026-01-02T03:04:05.000Z' },
    { rsc: 'db', node: 'n3', op: 'start', intervalMs: 0, rc: 5, reason: 'err-installed', at: '2026-01-02T03:04:06.000Z' },
    { rsc: 'ip', node: 'n1', op: 'start', intervalMs: 0, rc: 1, reason: 'err-generic', message: 'address in use', at: '2026-01-02T03:04:08.000Z' },
  ]);
  const text = formatStatus(report);
  assert.match(text, /Failed Resource Actions:\n(.*\n)*  \* web monitor\/2000ms on n2: rc 7 not-running at 2026-01-02T03:04:05\.000Z\n  \* db start on n3: rc 5 err-installed at 2026-01-02T03:04:06\.000Z\n  \* ip start on n1: rc 1 err-generic \(address in use\) at 2026-01-02T03:04:08\.000Z\n/);
});

test('a failure the answering node saw but the history no longer holds (cleaned up) is not listed', () => {
  const seen: FailureRecord[] = [{ rsc: 'gone', node: 'n1', op: 'start', intervalMs: 0, rc: 1, at: 'whenever' }];
  const clean: Cib = { ...cib, status: { nodes: {} } };
  const report = buildStatusReport(status, { cib: clean, version: { adminEpoch: 0, epoch: 3, numUpdates: 9 }, synced: true }, seen);
  assert.deepEqual(report.failures, []);
  assert.doesNotMatch(formatStatus(report), /Failed Resource Actions/);
});
