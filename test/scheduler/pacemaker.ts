/**
 * Test helper: writes a sanode CIB as Pacemaker CIB XML, runs Pacemaker's own scheduler on it
 * (`crm_simulate -S`), and reads the resulting placement back from the saved output CIB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatScore,
  listPrimitives,
  type Cib,
  type Constraint,
  type OpConfig,
  type OpRecord,
  type PrimitiveConfig,
  type ResourceConfig,
  type ResourceMeta,
  type CloneMeta,
} from '../../lib/cib/model.js';
import { childrenNamed, descendants, escapeXml as esc, parseXml } from '../../lib/cib/xml.js';
import type { SetConstraint } from './scenarios.js';

/** The feature set pacemaker-cli-utils 2.1.5 (Debian 12) accepts; newer CIB updates are refused. */
const FEATURE_SET = '3.16.1';

export function crmSimulateAvailable(): boolean {
  const r = spawnSync('crm_simulate', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

function nv(prefix: string, pairs: Record<string, string | undefined>): string {
  return Object.entries(pairs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<nvpair id="${esc(`${prefix}-${k}`)}" name="${esc(k)}" value="${esc(v!)}"/>`)
    .join('');
}

function metaPairs(meta: (ResourceMeta & CloneMeta) | undefined): Record<string, string | undefined> {
  const m = meta ?? {};
  return {
    'target-role': m.targetRole,
    'resource-stickiness': m.resourceStickiness === undefined ? undefined : formatScore(m.resourceStickiness),
    'migration-threshold': m.migrationThreshold === undefined ? undefined : formatScore(m.migrationThreshold),
    'failure-timeout': m.failureTimeoutMs === undefined ? undefined : `${Math.floor(m.failureTimeoutMs / 1000)}s`,
    priority: m.priority === undefined ? undefined : String(m.priority),
    'is-managed': m.isManaged === undefined ? undefined : String(m.isManaged),
    'clone-max': m.cloneMax === undefined ? undefined : String(m.cloneMax),
    'clone-node-max': m.cloneNodeMax === undefined ? undefined : String(m.cloneNodeMax),
    promotable: m.promotable === undefined ? undefined : String(m.promotable),
    'promoted-max': m.promotedMax === undefined ? undefined : String(m.promotedMax),
    'promoted-node-max': m.promotedNodeMax === undefined ? undefined : String(m.promotedNodeMax),
    interleave: m.interleave === undefined ? undefined : String(m.interleave),
  };
}

function metaXml(id: string, meta: ResourceMeta | undefined): string {
  const body = nv(`${id}-meta`, metaPairs(meta));
  return body === '' ? '' : `<meta_attributes id="${esc(id)}-meta">${body}</meta_attributes>`;
}

function monitorXml(p: PrimitiveConfig, o: OpConfig): string {
  const role = o.role === undefined ? '' : ` role="${o.role}"`;
  const onFail = o.onFail === undefined ? '' : ` on-fail="${o.onFail}"`;
  return `<op id="${esc(p.id)}-monitor-${o.intervalMs}" name="monitor" interval="${o.intervalMs}ms" timeout="${o.timeoutMs}ms"${role}${onFail}/>`;
}

function opXmlOf(p: PrimitiveConfig | undefined, intervalMs: number): string | undefined {
  const o = p?.ops?.find((x) => x.name === 'monitor' && x.intervalMs === intervalMs);
  return o === undefined ? undefined : monitorXml(p!, o);
}

function primitiveXml(p: PrimitiveConfig, type: string): string {
  const ops = (p.ops ?? [])
    .filter((o) => o.name === 'monitor' && o.intervalMs > 0)
    .map((o) => monitorXml(p, o))
    .join('');
  return `<primitive id="${esc(p.id)}" class="ocf" provider="pacemaker" type="${type}">${metaXml(p.id, p.meta)}${ops === '' ? '' : `<operations>${ops}</operations>`}</primitive>`;
}

function resourceXml(r: ResourceConfig): string {
  if (r.kind === 'primitive') return primitiveXml(r, 'Dummy');
  if (r.kind === 'group') return `<group id="${esc(r.id)}">${metaXml(r.id, r.meta)}${r.members.map((m) => primitiveXml(m, 'Dummy')).join('')}</group>`;
  const type = r.meta?.promotable === true ? 'Stateful' : 'Dummy';
  const child = r.child.kind === 'primitive' ? primitiveXml(r.child, type) : `<group id="${esc(r.child.id)}">${r.child.members.map((m) => primitiveXml(m, type)).join('')}</group>`;
  return `<clone id="${esc(r.id)}">${metaXml(r.id, r.meta)}${child}</clone>`;
}

function constraintXml(c: Constraint): string {
  switch (c.kind) {
    case 'location': {
      const role = c.role === undefined ? '' : ` role="${c.role}"`;
      if (c.node !== undefined) return `<rsc_location id="${esc(c.id)}" rsc="${esc(c.rsc)}" node="${esc(c.node)}" score="${formatScore(c.score ?? 0)}"${role}/>`;
      const rules = (c.rules ?? [])
        .map((r, i) => {
          const exprs = r.expressions
            .map((e, j) => {
              const value = e.value === undefined ? '' : ` value="${esc(e.value)}"`;
              const type = e.type === undefined ? '' : ` type="${e.type === 'integer' ? 'integer' : e.type}"`;
              return `<expression id="${esc(c.id)}-r${i}-e${j}" attribute="${esc(e.attribute)}" operation="${e.operation}"${value}${type}/>`;
            })
            .join('');
          return `<rule id="${esc(c.id)}-r${i}" score="${formatScore(r.score)}" boolean-op="${r.booleanOp ?? 'and'}">${exprs}</rule>`;
        })
        .join('');
      return `<rsc_location id="${esc(c.id)}" rsc="${esc(c.rsc)}"${role}>${rules}</rsc_location>`;
    }
    case 'colocation': {
      const roles = `${c.rscRole === undefined ? '' : ` rsc-role="${c.rscRole}"`}${c.withRscRole === undefined ? '' : ` with-rsc-role="${c.withRscRole}"`}`;
      return `<rsc_colocation id="${esc(c.id)}" rsc="${esc(c.rsc)}" with-rsc="${esc(c.withRsc)}" score="${formatScore(c.score)}"${roles}/>`;
    }
    case 'order': {
      const actions = `${c.firstAction === undefined ? '' : ` first-action="${c.firstAction}"`}${c.thenAction === undefined ? '' : ` then-action="${c.thenAction}"`}`;
      return `<rsc_order id="${esc(c.id)}" first="${esc(c.first)}" then="${esc(c.then)}" kind="${c.orderKind ?? 'Mandatory'}" symmetrical="${String(c.symmetrical ?? true)}"${actions}/>`;
    }
  }
}

function expectedRc(op: OpRecord, promoted: boolean): number {
  if (op.op === 'monitor') return promoted ? 8 : 0;
  return 0;
}

/** The lrm history of one resource on one node, in the shape the controller records. */
/** The digest Pacemaker records for an operation on a Dummy or Stateful without parameters. */
const NO_PARAMS_DIGEST = 'f2317cad3d54cec5d7d7aa7d0bf35cf8';
const recurringDigests = new Map<string, string>();

/**
 * The digest Pacemaker would have recorded for a recurring monitor configured as `opXml`. A
 * recurring op's digest covers its interval and timeout; a wrong one reads as "parameters
 * changed", and with a failure-timeout Pacemaker then clears the fail count, which no real
 * cluster would do. So ask crm_simulate once per kind of op: run it on a one-resource CIB with
 * that op and read back the digest it records.
 */
function recurringDigest(type: string, opXml: string, intervalMs: number): string {
  const op = opXml.replace(/ id="[^"]*"/, ' id="probe-op"');
  const key = `${type} ${op}`;
  const known = recurringDigests.get(key);
  if (known !== undefined) return known;
  const prim = `<primitive id="p" class="ocf" provider="pacemaker" type="${type}"><operations>${op}</operations></primitive>`;
  const resources = type === 'Stateful' ? `<clone id="pc"><meta_attributes id="pc-m"><nvpair id="pc-m-p" name="promotable" value="true"/></meta_attributes>${prim}</clone>` : prim;
  const nodeState = (id: number): string =>
    `<node_state id="${id}" uname="n${id}" in_ccm="true" crmd="online" join="member" expected="member"><transient_attributes id="${id}"><instance_attributes id="s${id}"><nvpair id="s${id}-m" name="master-p" value="${10 * id}"/></instance_attributes></transient_attributes></node_state>`;
  const xml =
    `<cib crm_feature_set="${FEATURE_SET}" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1"><configuration>` +
    `<crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>` +
    `<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes><resources>${resources}</resources><constraints/></configuration>` +
    `<status>${nodeState(1)}${nodeState(2)}</status></cib>`;
  const dir = mkdtempSync(join(tmpdir(), 'sanode-digest-'));
  try {
    writeFileSync(join(dir, 'in.xml'), xml);
    spawnSync('crm_simulate', ['-x', join(dir, 'in.xml'), '-S', '-Q', '-O', join(dir, 'out.xml')], { encoding: 'utf8', env: { ...process.env, PCMK_logfile: '/dev/null' } });
    const out = existsSync(join(dir, 'out.xml')) ? readFileSync(join(dir, 'out.xml'), 'utf8') : '';
    const found = descendants(parseXml(out === '' ? '<cib/>' : out), 'lrm_rsc_op').find((o) => o.attrs['operation'] === 'monitor' && o.attrs['interval'] === String(intervalMs));
    const digest = found?.attrs['op-digest'] ?? NO_PARAMS_DIGEST;
    recurringDigests.set(key, digest);
    return digest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function historyXml(rsc: string, ops: OpRecord[], type: string, config: PrimitiveConfig | undefined): string {
  const sorted = [...ops].sort((a, b) => a.callId - b.callId);
  const entries = new Map<string, OpRecord & { expected: number }>();
  let promoted = false;
  for (const op of sorted) {
    const expected = expectedRc(op, promoted);
    const ok = op.rc === expected || (op.op === 'monitor' && op.intervalMs === 0);
    if (op.op === 'promote' && ok) promoted = true;
    if ((op.op === 'demote' || op.op === 'stop') && ok) promoted = false;
    const rec = { ...op, expected };
    if (op.op === 'monitor' && op.intervalMs > 0) entries.set(`${rsc}_monitor_${op.intervalMs}`, rec);
    else entries.set(`${rsc}_last_0`, rec);
    if (!ok) entries.set(`${rsc}_last_failure_0`, rec);
  }
  const body = [...entries]
    .map(([id, op]) => {
      const key = `${op.callId}:1:${op.expected}:00000000-0000-0000-0000-000000000000`;
      const configured = op.op === 'monitor' && op.intervalMs > 0 ? opXmlOf(config, op.intervalMs) : undefined;
      const digest = configured === undefined ? NO_PARAMS_DIGEST : recurringDigest(type, configured, op.intervalMs);
      return (
        `<lrm_rsc_op id="${id}" operation_key="${rsc}_${op.op}_${op.intervalMs}" operation="${op.op}" crm-debug-origin="sanode" ` +
        `crm_feature_set="${FEATURE_SET}" transition-key="${key}" transition-magic="0:${op.rc};${key}" exit-reason="" ` +
        `call-id="${op.callId}" rc-code="${op.rc}" op-status="0" interval="${op.intervalMs}" last-rc-change="${Math.floor(op.timeMs / 1000)}" ` +
        `exec-time="0" queue-time="0" op-digest="${digest}"/>`
      );
    })
    .join('');
  return `<lrm_resource id="${esc(rsc)}" class="ocf" provider="pacemaker" type="${type}">${body}</lrm_resource>`;
}

/**
 * Pacemaker refuses to start anything while stonith-enabled is true and no fence device exists.
 * sanode's fencing is configured outside the CIB, so declare a device that never runs (it takes
 * no node and adds nothing to any node's load).
 */
function fenceDevice(stonith: boolean): string {
  if (!stonith) return '';
  return '<primitive id="sanode-fence" class="stonith" type="fence_sanode"><meta_attributes id="sanode-fence-meta"><nvpair id="sanode-fence-role" name="target-role" value="Stopped"/></meta_attributes></primitive>';
}

function setConstraintXml(c: SetConstraint): string {
  const sets = c.sets
    .map((set, i) => {
      const attrs = `${set.sequential === undefined ? '' : ` sequential="${String(set.sequential)}"`}${set.role === undefined ? '' : ` role="${set.role}"`}${set.action === undefined ? '' : ` action="${set.action}"`}`;
      return `<resource_set id="${esc(c.id)}-set${i}"${attrs}>${set.resources.map((r) => `<resource_ref id="${esc(r)}"/>`).join('')}</resource_set>`;
    })
    .join('');
  if (c.kind === 'colocation') return `<rsc_colocation id="${esc(c.id)}" score="${formatScore(c.score ?? 0)}">${sets}</rsc_colocation>`;
  const sym = c.symmetrical === undefined ? '' : ` symmetrical="${String(c.symmetrical)}"`;
  return `<rsc_order id="${esc(c.id)}" kind="${c.orderKind ?? 'Mandatory'}"${sym}>${sets}</rsc_order>`;
}

/**
 * `sets`: constraints to write as resource sets; the CIB holds their pairwise expansion (ids
 * `<set constraint id>-<n>`), which is left out of the XML in their favour.
 */
export function toPacemakerXml(cib: Cib, quorate: boolean, sets: readonly SetConstraint[] = []): string {
  const cfg = cib.config;
  const expanded = (id: string): boolean => sets.some((s) => id.startsWith(`${s.id}-`));
  const p = cfg.properties ?? {};
  const props = nv('opt', {
    'stonith-enabled': String(p.stonithEnabled ?? true),
    'no-quorum-policy': p.noQuorumPolicy,
    'maintenance-mode': p.maintenanceMode === undefined ? undefined : String(p.maintenanceMode),
    'symmetric-cluster': p.symmetricCluster === undefined ? undefined : String(p.symmetricCluster),
    // Fencing an unseen node at start-up would hide what the scenario tests.
    'startup-fencing': 'false',
  });
  const defaults = nv('rscd', metaPairs(cfg.rscDefaults));
  const od = cfg.opDefaults ?? {};
  const opDefaults = nv('opd', { timeout: od.timeoutMs === undefined ? undefined : `${od.timeoutMs}ms`, 'on-fail': od.onFail });
  const nodes = cfg.nodes
    .map((n) => {
      const attrs = nv(`n${n.id}`, { ...n.attributes, standby: n.standby === true ? 'on' : undefined });
      return `<node id="${esc(n.id)}" uname="${esc(n.name)}">${attrs === '' ? '' : `<instance_attributes id="n${esc(n.id)}-attrs">${attrs}</instance_attributes>`}</node>`;
    })
    .join('');
  const typeOf = new Map(listPrimitives(cfg).map((i) => [i.primitive.id, i.clone?.meta?.promotable === true ? 'Stateful' : 'Dummy']));
  const configOf = new Map(listPrimitives(cfg).map((i) => [i.primitive.id, i.primitive]));
  const status = cfg.nodes
    .map((n) => {
      const st = cib.status.nodes[n.name] ?? { state: 'online' as const };
      const state =
        st.state === 'online'
          ? 'in_ccm="true" crmd="online" join="member" expected="member"'
          : st.state === 'offline'
            ? 'in_ccm="false" crmd="offline" join="down" expected="down"'
            : 'in_ccm="false" crmd="offline" join="member" expected="member"';
      const transient: Record<string, string> = { ...st.attributes };
      if (st.standby === true) transient['standby'] = 'on';
      const history: string[] = [];
      for (const [rsc, rs] of Object.entries(st.resources ?? {})) {
        history.push(historyXml(rsc, rs.ops, typeOf.get(rsc) ?? 'Dummy', configOf.get(rsc)));
        if ((rs.failCount ?? 0) > 0) {
          const failed = [...rs.ops].reverse().find((o) => o.rc !== 0 && !(o.op === 'monitor' && (o.rc === 7 || o.rc === 8) && o.intervalMs === 0));
          const key = failed === undefined ? 'start_0' : `${failed.op}_${failed.intervalMs}`;
          transient[`fail-count-${rsc}#${key}`] = formatScore(rs.failCount!);
          transient[`last-failure-${rsc}#${key}`] = String(Math.floor((rs.lastFailureMs ?? 0) / 1000));
        }
      }
      const t = nv(`status-${n.id}`, transient);
      const tXml = t === '' ? '' : `<transient_attributes id="${esc(n.id)}"><instance_attributes id="status-${esc(n.id)}">${t}</instance_attributes></transient_attributes>`;
      return `<node_state id="${esc(n.id)}" uname="${esc(n.name)}" ${state}>${tXml}<lrm id="${esc(n.id)}"><lrm_resources>${history.join('')}</lrm_resources></lrm></node_state>`;
    })
    .join('\n');
  const dc = cfg.nodes.find((n) => (cib.status.nodes[n.name]?.state ?? 'online') === 'online');
  return (
    `<cib crm_feature_set="${FEATURE_SET}" validate-with="pacemaker-3.9" epoch="${cib.epoch}" num_updates="${cib.numUpdates}" admin_epoch="${cib.adminEpoch}" ` +
    `have-quorum="${quorate ? 1 : 0}"${dc === undefined ? '' : ` dc-uuid="${esc(dc.id)}"`}>\n<configuration>` +
    `<crm_config><cluster_property_set id="cib-bootstrap-options">${props}</cluster_property_set></crm_config>` +
    `<nodes>${nodes}</nodes>\n<resources>${fenceDevice(p.stonithEnabled ?? true)}${cfg.resources.map(resourceXml).join('\n')}</resources>\n` +
    `<constraints>${[...(cfg.constraints ?? []).filter((c) => !expanded(c.id)).map(constraintXml), ...sets.map(setConstraintXml)].join('\n')}</constraints>` +
    (defaults === '' ? '' : `<rsc_defaults><meta_attributes id="rsc-defaults">${defaults}</meta_attributes></rsc_defaults>`) +
    (opDefaults === '' ? '' : `<op_defaults><meta_attributes id="op-defaults">${opDefaults}</meta_attributes></op_defaults>`) +
    `</configuration>\n<status>${status}</status></cib>\n`
  );
}

export interface PacemakerResult {
  /** Primitive id -> sorted "node:role" entries once Pacemaker's own result settled. */
  placement: Record<string, string[]>;
  /** Raw text output of the last run, for failure messages. */
  output: string;
  /** A simulated transition stopped early (a blocked or failed action): the result is partial. */
  incomplete: boolean;
  /** crm_simulate runs, each on the previous run's output CIB, until the placement stopped changing. */
  rounds: number;
  converged: boolean;
  /**
   * Resources whose placement Pacemaker chose among equal scores in some round (from its own
   * allocation and promotion scores, `crm_simulate -s`): another valid scheduler may choose
   * differently, so such a scenario proves nothing either way.
   */
  ties: string[];
}

/**
 * Runs crm_simulate on the scenario at time nowMs, then again on its own output CIB, until the
 * placement stops changing: the settled result, as a live cluster reaches it transition by
 * transition.
 */
export function runPacemaker(cib: Cib, quorate: boolean, nowMs: number, sets: readonly SetConstraint[] = [], maxRounds = 6): PacemakerResult {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-pcmk-'));
  try {
    let input = join(dir, 'in0.xml');
    writeFileSync(input, toPacemakerXml(cib, quorate, sets));
    const when = new Date(nowMs).toISOString().replace(/\.\d+Z$/, 'Z');
    const ties = new Set<string>();
    let previous: string | undefined;
    let incomplete = false;
    for (let round = 1; ; round++) {
      const outputFile = join(dir, `out${round}.xml`);
      const run = spawnSync('crm_simulate', ['-x', input, '-s', '-S', '-O', outputFile, '-t', when], {
        encoding: 'utf8',
        env: { ...process.env, PCMK_logfile: '/dev/null' },
        maxBuffer: 64 * 1024 * 1024,
      });
      const output = `${run.stdout}\n${run.stderr}`;
      // A transition that stops at a blocked or failed action still saves its output CIB.
      if (!existsSync(outputFile)) throw new Error(`crm_simulate failed (exit ${run.status}): ${output}`);
      incomplete ||= /Transition failed/.test(output);
      const placement = readPlacement(readFileSync(outputFile, 'utf8'), cib);
      for (const t of tiesInScores(output, cib, placement)) ties.add(t);
      const key = JSON.stringify(placement);
      const converged = key === previous;
      if (converged || round >= maxRounds) {
        return { placement, output, incomplete, rounds: round, converged, ties: [...ties].sort() };
      }
      previous = key;
      input = outputFile;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Which resources Pacemaker placed by a tie-break in one run. A primitive (or clone instance)
 * whose best allocation score (>= 0) is shared by another node is a tie, unless it is a clone
 * instance and every tied node got an instance anyway (then the choice changed nothing). A
 * promotable clone is a tie when the last promoted instance and the first one left unpromoted
 * have the same promotion score.
 */
function tiesInScores(output: string, cib: Cib, placement: Record<string, string[]>): string[] {
  const alloc = new Map<string, Map<string, number>>();
  const promo = new Map<string, { node: string; score: number }[]>();
  const parse = (text: string): number => (/^\+?INFINITY$/.test(text) ? 1_000_000 : text === '-INFINITY' ? -1_000_000 : Number(text));
  for (const line of output.split('\n')) {
    let m = /^pcmk__primitive_assign: (\S+) allocation score on (\S+): (\S+)$/.exec(line.trim());
    if (m !== null) {
      const per = alloc.get(m[1]!) ?? new Map<string, number>();
      per.set(m[2]!, parse(m[3]!));
      alloc.set(m[1]!, per);
      continue;
    }
    m = /^(\S+) promotion score on (\S+): (\S+)$/.exec(line.trim());
    if (m !== null && m[2] !== 'none') {
      const list = promo.get(m[1]!.replace(/:\d+$/, '')) ?? [];
      list.push({ node: m[2]!, score: parse(m[3]!) });
      promo.set(m[1]!.replace(/:\d+$/, ''), list);
    }
  }
  // crm_simulate prints the raw score of a node that cannot run anything (standby, offline), so
  // only nodes that can run resources take part in a tie.
  const usable = new Set(
    cib.config.nodes
      .filter((n) => {
        const st = cib.status.nodes[n.name];
        return (st?.state ?? 'online') === 'online' && n.standby !== true && st?.standby !== true;
      })
      .map((n) => n.name),
  );
  const ties = new Set<string>();
  for (const [id, all] of alloc) {
    const per = new Map([...all].filter(([n]) => usable.has(n)));
    const scores = [...per.values()];
    if (scores.length === 0) continue;
    const best = Math.max(...scores);
    if (best < 0) continue;
    const tied = [...per].filter(([, s]) => s === best).map(([n]) => n);
    if (tied.length < 2) continue;
    const base = id.replace(/:\d+$/, '');
    if (base !== id) {
      const used = new Set((placement[base] ?? []).map((e) => e.split(':')[0]));
      if (tied.every((n) => used.has(n))) continue;
    }
    ties.add(base);
  }
  const clones = new Map(listPrimitives(cib.config).flatMap((i) => (i.clone?.meta?.promotable === true ? [[i.primitive.id, i.clone] as const] : [])));
  for (const [id, list] of promo) {
    const clone = clones.get(id);
    if (clone === undefined) continue;
    const max = clone.meta?.promotedMax ?? 1;
    const sorted = list.map((e) => e.score).sort((a, b) => b - a);
    if (sorted.length > max && sorted[max - 1] === sorted[max] && sorted[max]! >= 0) ties.add(id);
  }
  return [...ties];
}

/** Reads each node's history in the output CIB: the last successful op says what runs there. */
function readPlacement(xml: string, cib: Cib): Record<string, string[]> {
  const root = parseXml(xml);
  const promotable = new Set(listPrimitives(cib.config).filter((i) => i.clone?.meta?.promotable === true).map((i) => i.primitive.id));
  const placement: Record<string, string[]> = {};
  for (const info of listPrimitives(cib.config)) placement[info.primitive.id] = [];
  for (const ns of descendants(root, 'node_state')) {
    if (ns.attrs['in_ccm'] !== 'true' || ns.attrs['crmd'] !== 'online') continue;
    const node = ns.attrs['uname']!;
    for (const lr of descendants(ns, 'lrm_resource')) {
      const id = lr.attrs['id']!.replace(/:\d+$/, '');
      const ops = childrenNamed(lr, 'lrm_rsc_op').sort((a, b) => Number(a.attrs['call-id']) - Number(b.attrs['call-id']));
      let role: string | undefined;
      for (const op of ops) {
        const rc = Number(op.attrs['rc-code']);
        const name = op.attrs['operation'];
        const interval = Number(op.attrs['interval'] ?? '0');
        if (name === 'start' && rc === 0) role = 'Started';
        else if (name === 'stop' && rc === 0) role = undefined;
        else if (name === 'promote' && rc === 0) role = 'Promoted';
        else if (name === 'demote' && rc === 0) role = 'Unpromoted';
        else if (name === 'monitor' && interval === 0) role = rc === 0 ? 'Started' : rc === 8 ? 'Promoted' : rc === 7 ? undefined : role;
        else if (name === 'monitor' && rc === 8) role = 'Promoted';
      }
      if (role === undefined || placement[id] === undefined) continue;
      if (promotable.has(id) && role === 'Started') role = 'Unpromoted';
      placement[id]!.push(`${node}:${role}`);
    }
  }
  for (const list of Object.values(placement)) list.sort();
  return placement;
}
