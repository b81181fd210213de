/**
 * Small CIBs on which sanode once differed from crm_simulate, with the placement Pacemaker 2.1.5
 * chose ("node:role" per primitive). Used by parity.test.ts and re-checked against Pacemaker by
 * parity-check.ts.
 */
import {
  INFINITY,
  type Cib,
  type CibConfig,
  type CloneConfig,
  type NodeStatus,
  type OpRecord,
  type PrimitiveConfig,
  type Role,
} from '../../lib/cib/model.js';
import { expandColocationSets } from '../../lib/cib/sets.js';
import type { SetConstraint } from './scenarios.js';

export const PARITY_NOW_MS = 1_700_000_000_000;

export interface ParityCase {
  name: string;
  cib: Cib;
  quorate: boolean;
  /** Primitive id -> sorted "node:role" entries. */
  expected: Record<string, string[]>;
  /** Set constraints as Pacemaker is given them; `cib` holds their expansion (lib/cib/sets.ts). */
  sets?: SetConstraint[];
}

const agent = { class: 'ocf', provider: 'pacemaker', type: 'Dummy' } as const;
const monitor = [{ name: 'monitor' as const, intervalMs: 10_000, timeoutMs: 20_000 }];

function prim(id: string, extra: Partial<PrimitiveConfig> = {}): PrimitiveConfig {
  return { kind: 'primitive', id, agent, ops: monitor, ...extra };
}

function clone(id: string, child: string, meta: CloneConfig['meta'] = {}): CloneConfig {
  const ops =
    meta.promotable === true
      ? [
          { name: 'monitor' as const, intervalMs: 10_000, timeoutMs: 20_000, role: 'Unpromoted' as const },
          { name: 'monitor' as const, intervalMs: 11_000, timeoutMs: 20_000, role: 'Promoted' as const },
        ]
      : monitor;
  return { kind: 'clone', id, child: prim(child, { ops }), meta };
}

let callId = 100;
function running(promoted = false, failedMonitor = false): { ops: OpRecord[]; failCount?: number; lastFailureMs?: number } {
  const t = PARITY_NOW_MS - 600_000;
  const ops: OpRecord[] = [{ op: 'start', intervalMs: 0, rc: 0, timeMs: t, callId: ++callId }];
  if (promoted) ops.push({ op: 'promote', intervalMs: 0, rc: 0, timeMs: t + 1000, callId: ++callId });
  if (!failedMonitor) return { ops };
  ops.push({ op: 'monitor', intervalMs: 10_000, rc: 1, timeMs: PARITY_NOW_MS - 30_000, callId: ++callId });
  return { ops, failCount: 1, lastFailureMs: PARITY_NOW_MS - 30_000 };
}

/** A probe's answer: the resource is known not to run on that node. */
function probedStopped(): { ops: OpRecord[] } {
  return { ops: [{ op: 'monitor', intervalMs: 0, rc: 7, timeMs: PARITY_NOW_MS - 600_000, callId: ++callId }] };
}

const apartSet: SetConstraint = { kind: 'colocation', id: 'apart', score: -INFINITY, sets: [{ resources: ['a', 'b', 'c'] }] };

function cib(config: Partial<CibConfig>, status: Record<string, NodeStatus> = {}, nodeCount = 3): Cib {
  return {
    adminEpoch: 0,
    epoch: 1,
    numUpdates: 0,
    config: {
      properties: { stonithEnabled: false },
      rscDefaults: { resourceStickiness: 0 },
      nodes: Array.from({ length: nodeCount }, (_, i) => ({ id: String(i + 1), name: `n${i + 1}` })),
      resources: [],
      ...config,
    },
    status: { nodes: status },
  };
}

export function placementOf(placement: Record<string, { node: string; role: Exclude<Role, 'Stopped'> }[]>, ids: string[]): Record<string, string[]> {
  return Object.fromEntries(ids.map((id) => [id, (placement[id] ?? []).map((e) => `${e.node}:${e.role}`).sort()]));
}

export const PARITY_CASES: ParityCase[] = [
  {
    name: 'on-fail=fence without fencing keeps a failed resource stopped (pacemaker resets it to stop)',
    cib: cib(
      { resources: [prim('ip', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'fence' }] })] },
      { n1: { state: 'online', resources: { ip: running(false, true) } } },
    ),
    quorate: true,
    expected: { ip: [] },
  },
  {
    name: 'no-quorum-policy=freeze: a running resource may still move, a stopped one may not start',
    cib: cib(
      {
        properties: { stonithEnabled: false, noQuorumPolicy: 'freeze' },
        resources: [prim('ip'), prim('web')],
        constraints: [{ kind: 'location', id: 'away', rsc: 'ip', node: 'n1', score: -INFINITY }],
      },
      { n1: { state: 'online', resources: { ip: running() } } },
    ),
    quorate: false,
    expected: { ip: ['n2:Started'], web: [] },
  },
  {
    name: 'no-quorum-policy=freeze: a clone keeps its running instances but starts no new one',
    cib: cib({ properties: { stonithEnabled: false, noQuorumPolicy: 'freeze' }, resources: [clone('pc', 'p')] }, { n2: { state: 'online', resources: { p: running() } } }),
    quorate: false,
    expected: { p: ['n2:Started'] },
  },
  {
    name: "a location on a promotable clone counts towards promotion, not just the instance's promotion score",
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true })],
        constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n2', score: 300 }],
      },
      { n1: { state: 'online', attributes: { 'master-p': '45' } }, n2: { state: 'online', attributes: { 'master-p': '20' } } },
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted', 'n2:Promoted', 'n3:Unpromoted'] },
  },
  {
    // Pacemaker 2.1.5 resets clone-node-max > 1 to 1 for an anonymous clone: one instance per
    // node, so two nodes give two instances, both promoted.
    name: 'promoted-max and promoted-node-max bound promotion in all and per node; a node shows once',
    cib: cib(
      { resources: [clone('pc', 'p', { promotable: true, cloneMax: 4, cloneNodeMax: 2, promotedMax: 3, promotedNodeMax: 2 })] },
      { n1: { state: 'online', attributes: { 'master-p': '50' } }, n2: { state: 'online', attributes: { 'master-p': '10' } } },
      2,
    ),
    quorate: true,
    expected: { p: ['n1:Promoted', 'n2:Promoted'] },
  },
  {
    name: 'a resource colocated with a weakly colocated dependent counts in full when the primary is placed',
    cib: cib({
      resources: [prim('a', { meta: { priority: 10 } }), prim('b'), prim('c')],
      constraints: [
        { kind: 'location', id: 'a-n1', rsc: 'a', node: 'n1', score: 100 },
        { kind: 'location', id: 'c-n2', rsc: 'c', node: 'n2', score: 500 },
        { kind: 'colocation', id: 'b-with-a', rsc: 'b', withRsc: 'a', score: 100 },
        { kind: 'colocation', id: 'c-with-b', rsc: 'c', withRsc: 'b', score: INFINITY },
      ],
    }),
    quorate: true,
    expected: { a: ['n2:Started'], b: ['n2:Started'], c: ['n2:Started'] },
  },
  {
    name: 'a clone instance leaves its node when a node with room scores better for it',
    cib: cib(
      { resources: [clone('pc', 'p', { cloneMax: 1 })], constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n3', score: 300 }] },
      { n1: { state: 'online', resources: { p: running() } } },
    ),
    quorate: true,
    expected: { p: ['n3:Started'] },
  },
  {
    name: 'instances running beyond clone-max are orphans and stop, counted in node order',
    cib: cib(
      { resources: [clone('pc', 'p', { cloneMax: 2 })], rscDefaults: { resourceStickiness: 100 } },
      { n1: { state: 'online', resources: { p: running() } }, n2: { state: 'online', resources: { p: running() } }, n3: { state: 'online', resources: { p: running() } } },
    ),
    quorate: true,
    expected: { p: ['n1:Started', 'n2:Started'] },
  },
  {
    name: 'an instance moved to a node where the resource was never seen gets no promotion score there',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true, cloneMax: 2 })],
        constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n3', score: 300 }],
        rscDefaults: { resourceStickiness: 100 },
        nodes: [1, 2, 3, 4].map((i) => ({ id: String(i), name: `n${i}` })),
      },
      {
        n1: { state: 'online', attributes: { 'master-p': '95' }, resources: { p: running(true) } },
        n2: { state: 'online', attributes: { 'master-p': '5' } },
        n3: { state: 'online', attributes: { 'master-p': '15' } },
        n4: { state: 'online', attributes: { 'master-p': '80' } },
      },
    ),
    quorate: true,
    expected: { p: ['n1:Promoted', 'n3:Unpromoted'] },
  },
  {
    name: 'interleave: an instance ordered after another clone runs only where that clone has an instance',
    cib: cib({
      resources: [clone('base', 'b', { cloneMax: 2 }), clone('app', 'a', { interleave: true })],
      constraints: [{ kind: 'order', id: 'o', first: 'base', then: 'app', orderKind: 'Mandatory' }],
    }),
    quorate: true,
    expected: { b: ['n1:Started', 'n2:Started'], a: ['n1:Started', 'n2:Started'] },
  },
  {
    name: 'without interleave, an ordered clone runs everywhere once the other clone runs anywhere',
    cib: cib({
      resources: [clone('base', 'b', { cloneMax: 2 }), clone('app', 'a')],
      constraints: [{ kind: 'order', id: 'o', first: 'base', then: 'app', orderKind: 'Mandatory' }],
    }),
    quorate: true,
    expected: { b: ['n1:Started', 'n2:Started'], a: ['n1:Started', 'n2:Started', 'n3:Started'] },
  },
  {
    name: 'a resource colocated INFINITY with the promoted instance runs where that instance is promoted, not next to an unpromoted one',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true }), prim('vip')],
        constraints: [{ kind: 'colocation', id: 'vip-with-promoted', rsc: 'vip', withRsc: 'pc', score: INFINITY, withRscRole: 'Promoted' }],
      },
      { n1: { state: 'online', attributes: { 'master-p': '5' } }, n2: { state: 'online', attributes: { 'master-p': '50' } }, n3: { state: 'online', attributes: { 'master-p': '10' } } },
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted', 'n2:Promoted', 'n3:Unpromoted'], vip: ['n2:Started'] },
  },
  {
    name: 'a -INFINITY colocation with the promoted instance pushes promotion off the node the resource prefers, and bans only that node',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true }), prim('backup')],
        constraints: [
          { kind: 'colocation', id: 'backup-not-with-promoted', rsc: 'backup', withRsc: 'pc', score: -INFINITY, withRscRole: 'Promoted' },
          { kind: 'location', id: 'backup-likes-n1', rsc: 'backup', node: 'n1', score: 100 },
        ],
      },
      { n1: { state: 'online', attributes: { 'master-p': '50' } }, n2: { state: 'online', attributes: { 'master-p': '10' } } },
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted', 'n2:Promoted', 'n3:Unpromoted'], backup: ['n1:Started'] },
  },
  {
    name: 'a resource that must be with the promoted instance pulls promotion to the node it prefers',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true }), prim('vip')],
        constraints: [
          { kind: 'colocation', id: 'vip-with-promoted', rsc: 'vip', withRsc: 'pc', score: INFINITY, withRscRole: 'Promoted' },
          { kind: 'location', id: 'vip-likes-n3', rsc: 'vip', node: 'n3', score: 200 },
        ],
      },
      { n1: { state: 'online', attributes: { 'master-p': '50' } }, n2: { state: 'online', attributes: { 'master-p': '10' } }, n3: { state: 'online', attributes: { 'master-p': '10' } } },
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted', 'n2:Unpromoted', 'n3:Promoted'], vip: ['n3:Started'] },
  },
  {
    name: 'a resource colocated with the unpromoted role avoids the promoted node',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true, cloneMax: 2 }), prim('reader')],
        constraints: [{ kind: 'colocation', id: 'reader-with-unpromoted', rsc: 'reader', withRsc: 'pc', score: INFINITY, withRscRole: 'Unpromoted' }],
      },
      { n1: { state: 'online', attributes: { 'master-p': '50' } }, n2: { state: 'online', attributes: { 'master-p': '10' } } },
    ),
    quorate: true,
    expected: { p: ['n1:Promoted', 'n2:Unpromoted'], reader: ['n2:Started'] },
  },
  {
    name: 'INFINITY stickiness keeps instances where they run but leaves promotion to the promotion scores',
    cib: cib(
      { rscDefaults: { resourceStickiness: INFINITY }, resources: [clone('pc', 'p', { promotable: true })] },
      {
        n1: { state: 'online', attributes: { 'master-p': '10' }, resources: { p: running(true) } },
        n2: { state: 'online', attributes: { 'master-p': '90' }, resources: { p: running() } },
        n3: { state: 'online', attributes: { 'master-p': '5' }, resources: { p: running() } },
      },
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted', 'n2:Promoted', 'n3:Unpromoted'] },
  },
  {
    name: 'a negative location on a clone moves an instance away from that node even when its stickiness is larger',
    cib: cib(
      {
        rscDefaults: { resourceStickiness: 100 },
        resources: [clone('pc', 'p', { cloneMax: 2 })],
        constraints: [{ kind: 'location', id: 'avoid-n1', rsc: 'pc', node: 'n1', score: -50 }],
      },
      { n1: { state: 'online', resources: { p: running() } }, n2: { state: 'online', resources: { p: running() } } },
    ),
    quorate: true,
    expected: { p: ['n2:Started', 'n3:Started'] },
  },
  {
    name: 'on-fail=block on one clone instance holds that instance only; the clone still starts its others',
    cib: cib(
      {
        resources: [{ kind: 'clone', id: 'pc', child: prim('p', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }] }), meta: { cloneMax: 2 } }],
        constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n1', score: 50 }],
      },
      {
        n3: {
          state: 'online',
          resources: {
            p: {
              ops: [
                { op: 'start', intervalMs: 0, rc: 0, timeMs: PARITY_NOW_MS - 600_000, callId: 900 },
                { op: 'monitor', intervalMs: 10_000, rc: 1, timeMs: PARITY_NOW_MS - 30_000, callId: 901 },
              ],
              failCount: 1,
              lastFailureMs: PARITY_NOW_MS - 30_000,
            },
          },
        },
      },
    ),
    quorate: true,
    expected: { p: ['n1:Started', 'n3:Started'] },
  },
  {
    // With fencing enabled Pacemaker reads a cleanly offline node's history too: the resource
    // then counts as active on two nodes, so it has no single current node to stick to.
    name: 'with fencing, history on a cleanly offline node takes away the stickiness of a resource running elsewhere',
    cib: cib(
      {
        properties: { stonithEnabled: true },
        rscDefaults: { resourceStickiness: 100 },
        resources: [prim('db')],
        constraints: [{ kind: 'location', id: 'l', rsc: 'db', node: 'n3', score: 50 }],
      },
      { n1: { state: 'online', resources: { db: running() } }, n2: { state: 'offline', resources: { db: running() } } },
    ),
    quorate: true,
    expected: { db: ['n3:Started'] },
  },
  {
    name: 'a resource kept apart from a clone pushes its instance off the node the resource runs on',
    cib: cib(
      {
        rscDefaults: { resourceStickiness: 1 },
        resources: [clone('pc', 'p', { cloneMax: 1 }), prim('solo')],
        constraints: [{ kind: 'colocation', id: 'solo-apart', rsc: 'solo', withRsc: 'pc', score: -INFINITY }],
      },
      { n1: { state: 'online', resources: { solo: running() } } },
      2,
    ),
    quorate: true,
    expected: { p: ['n2:Started'], solo: ['n1:Started'] },
  },
  {
    name: 'a fail count from an operation with on-fail=ignore does not reach migration-threshold',
    cib: cib(
      {
        rscDefaults: { resourceStickiness: 100, migrationThreshold: 1 },
        resources: [prim('db', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'ignore' }] }), prim('web')],
      },
      { n1: { state: 'online', resources: { db: running(false, true), web: running(false, true) } } },
    ),
    quorate: true,
    expected: { db: ['n1:Started'], web: ['n2:Started'] },
  },
  {
    name: 'a group member before a blocked member keeps running: its stop would have to wait for the blocked one',
    cib: cib(
      {
        resources: [
          {
            kind: 'group',
            id: 'g',
            members: [prim('a'), prim('b', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }] }), prim('c')],
          },
        ],
        constraints: [{ kind: 'location', id: 'ban-n1', rsc: 'g', node: 'n1', score: -INFINITY }],
      },
      { n1: { state: 'online', resources: { a: running(), b: running(false, true), c: running() } } },
    ),
    quorate: true,
    expected: { a: ['n1:Started'], b: ['n1:Started'], c: [] },
  },
  {
    name: 'a promotion score counts on a node where the resource is known stopped and no instance runs, not on one never probed',
    cib: cib(
      { resources: [clone('pc', 'p', { promotable: true, cloneMax: 1 })], rscDefaults: { resourceStickiness: 1 } },
      {
        n1: { state: 'online', attributes: { 'master-p': '5' }, resources: { p: running() } },
        n2: { state: 'online', attributes: { 'master-p': '80' }, resources: { p: probedStopped() } },
        n3: { state: 'online', attributes: { 'master-p': '90' } },
      },
    ),
    quorate: true,
    expected: { p: ['n2:Promoted'] },
  },
  {
    name: 'a blocked instance beyond clone-max is an orphan that cannot be stopped: it stays',
    cib: cib(
      { resources: [{ kind: 'clone', id: 'pc', child: prim('p', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }] }), meta: { cloneMax: 1 } }] },
      { n1: { state: 'online', resources: { p: running() } }, n2: { state: 'online', resources: { p: running(false, true) } } },
    ),
    quorate: true,
    expected: { p: ['n1:Started', 'n2:Started'] },
  },
  {
    name: 'no-quorum-policy=freeze: an instance on a standby node moves before a new instance could take the only free node',
    cib: cib(
      {
        properties: { stonithEnabled: false, noQuorumPolicy: 'freeze' },
        nodes: [
          { id: '1', name: 'n1', standby: true },
          { id: '2', name: 'n2' },
        ],
        resources: [clone('pc', 'p')],
        rscDefaults: { resourceStickiness: 100 },
        constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n2', score: 300 }],
      },
      { n1: { state: 'online', resources: { p: running() } } },
    ),
    quorate: false,
    expected: { p: ['n2:Started'] },
  },
  {
    name: 'a sequential colocation set with -INFINITY keeps every member apart from every earlier one, not just its neighbour',
    cib: cib({
      resources: [prim('a'), prim('b'), prim('c')],
      constraints: [
        { kind: 'location', id: 'a-n1', rsc: 'a', node: 'n1', score: 100 },
        { kind: 'location', id: 'b-n2', rsc: 'b', node: 'n2', score: 100 },
        { kind: 'location', id: 'c-n1', rsc: 'c', node: 'n1', score: 50 },
        ...expandColocationSets(apartSet.id, apartSet.score!, apartSet.sets),
      ],
    }),
    sets: [apartSet],
    quorate: true,
    expected: { a: ['n1:Started'], b: ['n2:Started'], c: ['n3:Started'] },
  },
  {
    name: 'an asymmetrical Mandatory order after a resource that cannot run blocks only starts: what runs stays, nothing new starts',
    cib: cib(
      {
        resources: [prim('a', { meta: { targetRole: 'Stopped' } }), clone('bc', 'b', { cloneMax: 2 }), prim('c'), prim('d')],
        constraints: [
          { kind: 'order', id: 'a-bc', first: 'a', then: 'bc', orderKind: 'Mandatory', symmetrical: false },
          { kind: 'order', id: 'a-c', first: 'a', then: 'c', orderKind: 'Mandatory', symmetrical: false },
          { kind: 'order', id: 'a-d', first: 'a', then: 'd', orderKind: 'Mandatory', symmetrical: false },
        ],
        rscDefaults: { resourceStickiness: 100 },
      },
      { n1: { state: 'online', resources: { b: running(), c: running() } }, n2: { state: 'online', resources: { b: running() } } },
    ),
    quorate: true,
    expected: { a: [], b: ['n1:Started', 'n2:Started'], c: ['n1:Started'], d: [] },
  },
  {
    name: 'an Optional order written before a Mandatory one between the same actions leaves them optional',
    cib: cib(
      {
        resources: [prim('a', { meta: { targetRole: 'Stopped' } }), prim('b')],
        constraints: [
          { kind: 'order', id: 'opt', first: 'a', then: 'b', orderKind: 'Optional' },
          { kind: 'order', id: 'mand', first: 'a', then: 'b', orderKind: 'Mandatory' },
        ],
        rscDefaults: { resourceStickiness: 100 },
      },
      { n1: { state: 'online', resources: { b: running() } } },
    ),
    quorate: true,
    expected: { a: [], b: ['n1:Started'] },
  },
  {
    name: 'a finite colocation with a clone counts per instance: an instance that cannot run takes its score off every node',
    cib: cib({
      resources: [clone('pc', 'p', { cloneMax: 2 }), prim('d'), prim('e')],
      constraints: [
        { kind: 'location', id: 'pc-not-n2', rsc: 'pc', node: 'n2', score: -INFINITY },
        { kind: 'location', id: 'pc-not-n3', rsc: 'pc', node: 'n3', score: -INFINITY },
        { kind: 'location', id: 'e-n2', rsc: 'e', node: 'n2', score: INFINITY },
        { kind: 'colocation', id: 'd-with-e', rsc: 'd', withRsc: 'e', score: INFINITY },
        { kind: 'colocation', id: 'd-with-pc', rsc: 'd', withRsc: 'pc', score: 500 },
      ],
    }),
    quorate: true,
    expected: { p: ['n1:Started'], d: [], e: ['n2:Started'] },
  },
  {
    name: 'a failure of an op with on-fail=block never expires: failure-timeout is ignored, the resource stays blocked',
    cib: cib(
      {
        resources: [prim('b', { meta: { failureTimeoutMs: 60_000 }, ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }] })],
        constraints: [{ kind: 'location', id: 'ban-n1', rsc: 'b', node: 'n1', score: -INFINITY }],
      },
      {
        n1: {
          state: 'online',
          resources: {
            b: {
              ops: [
                { op: 'start', intervalMs: 0, rc: 0, timeMs: PARITY_NOW_MS - 600_000, callId: 950 },
                { op: 'monitor', intervalMs: 10_000, rc: 1, timeMs: PARITY_NOW_MS - 120_000, callId: 951 },
              ],
              failCount: 1,
              lastFailureMs: PARITY_NOW_MS - 120_000,
            },
          },
        },
      },
    ),
    quorate: true,
    expected: { b: ['n1:Started'] },
  },
  {
    name: 'a failed group member before a blocked one is neither moved nor recovered: its stop waits for the blocked one',
    cib: cib(
      {
        rscDefaults: { resourceStickiness: 0, migrationThreshold: 1 },
        resources: [
          {
            kind: 'group',
            id: 'g',
            members: [prim('a'), prim('b'), prim('c', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }] })],
          },
        ],
      },
      { n1: { state: 'online', resources: { a: running(false, true), b: running(), c: running(false, true) } } },
    ),
    quorate: true,
    expected: { a: ['n1:Started'], b: ['n1:Started'], c: ['n1:Started'] },
  },
  {
    name: 'a group member held in place by an unmanaged one after it cannot start, so the members after that stop',
    cib: cib(
      {
        resources: [{ kind: 'group', id: 'g', members: [prim('a', { meta: { targetRole: 'Stopped' } }), prim('b', { meta: { isManaged: false } }), prim('c')] }],
        rscDefaults: { resourceStickiness: 100 },
      },
      { n1: { state: 'online', resources: { a: running(), b: running(), c: running() } } },
    ),
    quorate: true,
    expected: { a: ['n1:Started'], b: ['n1:Started'], c: [] },
  },
  {
    name: 'an anonymous clone runs at most one instance per node whatever clone-node-max says, so instances spread',
    cib: cib(
      {
        resources: [clone('pc', 'p', { cloneMax: 3, cloneNodeMax: 2 })],
        constraints: [{ kind: 'location', id: 'l', rsc: 'pc', node: 'n2', score: INFINITY }],
      },
      { n2: { state: 'online', resources: { p: running() } }, n3: { state: 'online', resources: { p: running() } } },
    ),
    quorate: true,
    expected: { p: ['n1:Started', 'n2:Started', 'n3:Started'] },
  },
  {
    name: 'a resource kept off the promoted instance cannot push promotion below zero: its INFINITY preference leaves the node one point',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true }), prim('r')],
        constraints: [
          { kind: 'location', id: 'r-n1', rsc: 'r', node: 'n1', score: INFINITY },
          { kind: 'colocation', id: 'r-not-with-promoted', rsc: 'r', withRsc: 'pc', score: -INFINITY, withRscRole: 'Promoted' },
        ],
      },
      { n1: { state: 'online', attributes: { 'master-p': '100' }, resources: { r: running() } } },
      2,
    ),
    quorate: true,
    expected: { p: ['n1:Promoted', 'n2:Unpromoted'], r: ['n2:Started'] },
  },
  {
    name: 'a finite colocation away from the promoted instance is dropped when it would leave the resource nowhere to run',
    cib: cib(
      {
        nodes: [{ id: '1', name: 'n1' }, { id: '2', name: 'n2', standby: true }],
        resources: [clone('pc', 'p', { promotable: true, cloneMax: 2 }), prim('r')],
        constraints: [{ kind: 'colocation', id: 'r-away-from-promoted', rsc: 'r', withRsc: 'pc', score: -100, withRscRole: 'Promoted' }],
      },
      { n1: { state: 'online', attributes: { 'master-p': '50' }, resources: { p: running(true), r: running() } }, n2: { state: 'online' } },
      2,
    ),
    quorate: true,
    expected: { p: ['n1:Promoted'], r: ['n1:Started'] },
  },
  {
    name: 'a finite colocation away from the promoted instance moves the resource where another node can take it',
    cib: cib(
      {
        resources: [clone('pc', 'p', { promotable: true, cloneMax: 2 }), prim('r')],
        constraints: [{ kind: 'colocation', id: 'r-away-from-promoted', rsc: 'r', withRsc: 'pc', score: -100, withRscRole: 'Promoted' }],
      },
      { n1: { state: 'online', attributes: { 'master-p': '50' }, resources: { p: running(true), r: running() } }, n2: { state: 'online', attributes: { 'master-p': '10' }, resources: { p: running() } } },
      2,
    ),
    quorate: true,
    expected: { p: ['n1:Promoted', 'n2:Unpromoted'], r: ['n2:Started'] },
  },
  {
    // Pacemaker pins an unmanaged resource where it runs with an INFINITY location, and that
    // INFINITY is what a resource it is colocated with merges (differential seed 998).
    name: 'an unmanaged resource pushes the resource it is kept apart from off its node with its INFINITY, not its stickiness',
    cib: cib(
      {
        resources: [prim('r1'), prim('r2', { meta: { isManaged: false } })],
        constraints: [
          { kind: 'location', id: 'r1-n2', rsc: 'r1', node: 'n2', score: 50 },
          { kind: 'location', id: 'r1-n3', rsc: 'r1', node: 'n3', score: 10 },
          { kind: 'colocation', id: 'r2-apart-from-r1', rsc: 'r2', withRsc: 'r1', score: -100 },
        ],
      },
      { n2: { state: 'online', resources: { r2: running() } } },
    ),
    quorate: true,
    expected: { r1: ['n3:Started'], r2: ['n2:Started'] },
  },
  {
    name: 'an unmanaged resource stays where it runs even when history on a cleanly offline node says it ran there too',
    cib: cib(
      { properties: { stonithEnabled: true }, resources: [prim('r', { meta: { isManaged: false } })] },
      { n1: { state: 'online', resources: { r: running() } }, n3: { state: 'offline', resources: { r: running() } } },
    ),
    quorate: true,
    expected: { r: ['n1:Started'] },
  },
  {
    name: 'a stopped clone keeps an instance that failed with on-fail=block where it is, and stops the others',
    cib: cib(
      {
        resources: [
          {
            kind: 'clone',
            id: 'c',
            child: prim('p', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail: 'block' }], meta: { targetRole: 'Stopped' } }),
            meta: { cloneMax: 2 },
          },
        ],
      },
      { n1: { state: 'online', resources: { p: running(false, true) } }, n2: { state: 'online', resources: { p: running() } } },
    ),
    quorate: true,
    expected: { p: ['n1:Started'] },
  },
  {
    name: 'a stopped promotable clone promotes nothing: its blocked, failed instance stays unpromoted, so nothing can be with the promoted role',
    cib: cib(
      {
        resources: [
          {
            kind: 'clone',
            id: 'pc',
            child: prim('p', {
              ops: [
                { name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, role: 'Unpromoted', onFail: 'block' },
                { name: 'monitor', intervalMs: 11_000, timeoutMs: 20_000, role: 'Promoted' },
              ],
              meta: { targetRole: 'Stopped' },
            }),
            meta: { promotable: true, cloneMax: 2 },
          },
          prim('vip'),
        ],
        constraints: [{ kind: 'colocation', id: 'vip-with-promoted', rsc: 'vip', withRsc: 'pc', score: INFINITY, withRscRole: 'Promoted' }],
      },
      {
        n1: {
          state: 'online',
          attributes: { 'master-p': '50' },
          resources: { p: { ops: [{ op: 'start', intervalMs: 0, rc: 0, timeMs: PARITY_NOW_MS - 600_000, callId: 900 }, { op: 'monitor', intervalMs: 10_000, rc: 1, timeMs: PARITY_NOW_MS - 30_000, callId: 901 }], failCount: 1, lastFailureMs: PARITY_NOW_MS - 30_000 } },
        },
      },
      2,
    ),
    quorate: true,
    expected: { p: ['n1:Unpromoted'], vip: [] },
  },
];
