/**
 * `npm run bench:failover`: how long a client goes without an answer from a service behind a VIP
 * when the node holding it fails, for sanode and keepalived side by side, in the same run and the
 * same namespaces (docs/benchmarks.md, "Failover as a client sees it").
 *
 * The lab is test/helpers/ha-lab.ts: three nodes and a client, each in its own network namespace
 * on one bridge, VIP 10.77.0.100/24, an HTTP server behind it, a client sending a GET through the
 * VIP every 10 ms (300 ms timeout), and a watcher in every node namespace recording every moment
 * the VIP is there. Implementations (`--impls`):
 *   - sanode-lan, sanode-fast: the `vip` agent (monitor 1 s, valid_lft 3 s, and by default the
 *     agent's nftables lease, `leaseMs` RECOMMENDED_LEASE_MS; `--vip-lease valid_lft` for the
 *     address lease alone) and the server under the `process` agent, on the `lan` or `fast`
 *     profile. `--service clone` (default): the server runs on every node (a clone, on 0.0.0.0)
 *     and the VIP is colocated with it, as keepalived runs it here; `--service group`: group
 *     `web` = VIP then the server bound to it, so the server starts only where the VIP moves;
 *   - keepalived-1, keepalived-0.01: Debian's keepalived, VRRPv3 with unicast peers, advert_int 1
 *     (its default) or 0.01 (its fastest), the server running on every node
 *     (test/helpers/keepalived.ts).
 *
 * Faults (`--faults`), applied to the node holding the VIP:
 *   - kill:      kill -9 of the HA process (sanode's node process; keepalived's parent and VRRP
 *                child). The server and the address stay, as after a real kill -9. Healed by a
 *                "reboot": what is left in the namespace is ended and the node started again.
 *   - stop-2s, stop-6s: SIGSTOP of the HA process, SIGCONT after 2 s or 6 s.
 *   - cut:       `ip link set dev <bridge port> down`: cut off, carrier lost. Healed: port up.
 *   - partition: 2|1 at the switch: one nftables transaction in the bridge's namespace drops every
 *                frame between the holder's port and the other two nodes' ports (the client
 *                still reaches all three). Healed: the table removed.
 *   - move:      a planned move: sanode `standby` of the holder (the Cluster API the admin CLI
 *                calls), keepalived a clean stop (SIGTERM, as `systemctl stop keepalived`).
 *                Healed: standby off / keepalived started again.
 *
 * One run: settle (every node running, the service answering from one node, the VIP there only,
 * 1.5 s of calm), apply the fault, then until the end of the run: for a stop, SIGCONT, 2 s, then
 * 20 answers in a row from one node with the VIP there only; for the others, 20 answers in a row
 * from another node than the victim. The outage is the longest gap between two answers from 1 s
 * before the fault to the end. Over the same window: the VIP on two nodes (the watchers' confirmed
 * presence, as the fault lab judges it) and answers from two nodes (successive answers from two
 * nodes less than 25 ms apart). Then the fault is healed. Rounds: every implementation runs each
 * fault once per round, so load from other jobs falls on all alike.
 *
 * Needs root (network namespaces) and, for keepalived, the keepalived package. Everything it
 * creates carries the `snt-fb` prefix and is removed at the end, also on failure or Ctrl-C; it
 * ends only the processes it started, by PID. The lab dir (events, watcher reports, client
 * samples, keepalived's logs) is kept after a failed run, for the post-mortem, or with --keep.
 *
 * Options: --runs N (rounds, default 10)  --impls sanode-lan,sanode-fast,keepalived-1,keepalived-0.01
 *          --faults kill,stop-2s,stop-6s,cut,partition,move  --vip-lease nft|valid_lft (default nft)
 *          --lease-ms N (the nft lease, default RECOMMENDED_LEASE_MS)  --service clone|group (default clone)
 *          --verbose  --keep (the lab dir)
 */
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { HaLab, NODE_IDS, nodeIdOf, nodeName, sleep, type Profile } from '../test/helpers/ha-lab.js';
import { KeepalivedCluster, keepalivedUnavailable } from '../test/helpers/keepalived.js';
import { DUAL_WINDOW_MS } from '../test/helpers/fault-lab.js';
import { RECOMMENDED_LEASE_MS } from '../agents/vip.js';
import { formatTable, median, percentile } from './stats.js';

const IMPLS = ['sanode-lan', 'sanode-fast', 'keepalived-1', 'keepalived-0.01'] as const;
type Impl = (typeof IMPLS)[number];
const FAULTS = ['kill', 'stop-2s', 'stop-6s', 'cut', 'partition', 'move'] as const;
type Fault = (typeof FAULTS)[number];
/** sanode / keepalived pairs whose ratio is printed. */
const PAIRS: [Impl, Impl][] = [
  ['sanode-lan', 'keepalived-1'],
  ['sanode-fast', 'keepalived-0.01'],
];

const { values } = parseArgs({
  options: {
    impls: { type: 'string', default: IMPLS.join(',') },
    faults: { type: 'string', default: FAULTS.join(',') },
    runs: { type: 'string', default: '10' },
    'vip-lease': { type: 'string', default: 'nft' },
    'lease-ms': { type: 'string', default: String(RECOMMENDED_LEASE_MS) },
    service: { type: 'string', default: 'clone' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const listOf = <T extends string>(option: string, text: string, known: readonly T[]): T[] => {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) if (!known.includes(item as T)) throw new Error(`--${option}: unknown '${item}'; use ${known.join(', ')}`);
  if (items.length === 0) throw new Error(`--${option}: empty`);
  return items as T[];
};
const impls = listOf('impls', values.impls, IMPLS);
const faults = listOf('faults', values.faults, FAULTS);
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got '${values.runs}'`);
if (values['vip-lease'] !== 'nft' && values['vip-lease'] !== 'valid_lft') throw new Error(`--vip-lease: expected nft or valid_lft, got '${values['vip-lease']}'`);
const vipLeaseMs = values['vip-lease'] === 'nft' ? Number(values['lease-ms']) : undefined;
if (vipLeaseMs !== undefined && !(Number.isSafeInteger(vipLeaseMs) && vipLeaseMs > 0)) throw new Error(`--lease-ms: expected a positive integer, got '${values['lease-ms']}'`);

if (values.service !== 'clone' && values.service !== 'group') throw new Error(`--service: expected clone or group, got '${values.service}'`);
const serviceLayout: 'clone' | 'group' = values.service;

const nowMs = (): number => performance.timeOrigin + performance.now();
const WAIT_MS = 60_000;
const LEASE_SECONDS = 3;
const CALM_MS = 1500;
const AFTER_THAW_MS = 2000;
/** A cell that failed this often is not run again. */
const MAX_FAILED_PER_CELL = 3;
const ANSWERS_IN_A_ROW = 20;

interface Phases {
  /** The last survivor installed a view without the victim (sanode). */
  viewMs?: number;
  /** The VIP's start succeeded on the new holder (sanode's resource event). */
  vipStartMs?: number;
  /** The watcher saw the VIP in the new holder's namespace. */
  vipUpMs?: number;
  /** The client's first answer from the new holder. */
  servedMs?: number;
}

interface RunResult {
  impl: Impl;
  fault: Fault;
  round: number;
  victim: number;
  /** The node serving at the end of the run (the victim, after a stop that moved nothing). */
  servedBy: number;
  outageMs: number;
  /** Confirmed time the VIP was in two node namespaces at once. */
  vipTwoNodesMs: number;
  /** Successive answers from two nodes less than DUAL_WINDOW_MS apart. */
  answeredByTwo: number;
  phases: Phases;
}

/** What each implementation does for the faults the lab cannot apply by itself. */
interface Driver {
  start(): Promise<void>;
  /** Every node running and the service settled; returns the holder. */
  settle(): Promise<number>;
  crash(id: number): Promise<number>;
  freeze(id: number): Promise<number>;
  thaw(id: number): Promise<number>;
  reboot(id: number): Promise<void>;
  move(id: number): Promise<number>;
  unmove(id: number, via: number): Promise<void>;
  stop(): Promise<void>;
}

const lab = new HaLab({ leaseSeconds: LEASE_SECONDS, monitorMs: 1000, keepDir: true, prefix: `snt-fb${randomBytes(2).toString('hex').slice(0, 3)}`, log: values.verbose ? (l) => console.error(`  ${l}`) : undefined });

/**
 * Waits until the last ANSWERS_IN_A_ROW answers (all after client sample `from`) came from one
 * node and the VIP is on that node only, both at once; returns that node.
 */
async function settledOn(what: string, from = 0): Promise<number> {
  let holder = 0;
  await lab.waitUntil(
    what,
    () => {
      const recent = lab.client.slice(Math.max(from, lab.client.length - ANSWERS_IN_A_ROW));
      if (recent.length < ANSWERS_IN_A_ROW || !recent.every((s) => s.ok && s.node === recent[0]!.node)) return false;
      holder = nodeIdOf(recent[0]!.node!);
      return JSON.stringify(lab.holders()) === JSON.stringify([holder]);
    },
    WAIT_MS,
  );
  return holder;
}

class SanodeDriver implements Driver {
  constructor(readonly profile: Profile) {}
  async start(): Promise<void> {
    await lab.resetNodes();
    lab.useCluster({ profile: this.profile, leaseSeconds: LEASE_SECONDS, vipLeaseMs, monitorMs: 1000, serviceLayout });
    lab.startAll();
  }
  async settle(): Promise<number> {
    for (const id of NODE_IDS) if (!lab.running(id)) await lab.reboot(id);
    await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
    await settledOn('the service and the VIP on one node');
    // A moment with nothing moving, so one run's aftermath is not the next run's fault.
    await sleep(CALM_MS);
    await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
    return settledOn('the service and the VIP on one node after the calm', lab.client.length);
  }
  crash(id: number): Promise<number> {
    return Promise.resolve(lab.crash(id));
  }
  freeze(id: number): Promise<number> {
    return Promise.resolve(lab.freeze(id));
  }
  thaw(id: number): Promise<number> {
    return Promise.resolve(lab.thaw(id));
  }
  reboot(id: number): Promise<void> {
    return lab.reboot(id);
  }
  async move(id: number): Promise<number> {
    const at = nowMs();
    await lab.admin(id, 'standby', [nodeName(id), true]);
    return at;
  }
  async unmove(id: number, via: number): Promise<void> {
    await lab.admin(lab.running(via) ? via : id, 'standby', [nodeName(id), false]);
  }
  stop(): Promise<void> {
    return lab.resetNodes();
  }
}

class KeepalivedDriver implements Driver {
  readonly ka: KeepalivedCluster;
  constructor(advertInt: number) {
    this.ka = new KeepalivedCluster(lab, advertInt);
  }
  async start(): Promise<void> {
    await lab.resetNodes();
    await this.ka.init();
    this.ka.startAll();
  }
  async settle(): Promise<number> {
    for (const id of NODE_IDS) if (!this.ka.running(id)) await this.ka.reboot(id);
    await settledOn('the service and the VIP on one node');
    await sleep(CALM_MS);
    const now = await settledOn('the service and the VIP on one node after the calm', lab.client.length);
    if (!NODE_IDS.every((id) => this.ka.running(id))) throw new Error('keepalived exited during the calm before the fault');
    return now;
  }
  crash(id: number): Promise<number> {
    return this.ka.crash(id);
  }
  freeze(id: number): Promise<number> {
    return this.ka.freeze(id);
  }
  thaw(id: number): Promise<number> {
    return this.ka.thaw(id);
  }
  reboot(id: number): Promise<void> {
    return this.ka.reboot(id);
  }
  move(id: number): Promise<number> {
    return this.ka.stopClean(id, WAIT_MS);
  }
  unmove(id: number): Promise<void> {
    this.ka.start(id);
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return this.ka.stop();
  }
}

const driverFor = (impl: Impl): Driver =>
  impl === 'sanode-lan' ? new SanodeDriver('lan') : impl === 'sanode-fast' ? new SanodeDriver('fast') : new KeepalivedDriver(impl === 'keepalived-1' ? 1 : 0.01);

/** The phases of the first takeover after the fault: by the first node other than the victim to answer (a stop may move the VIP there and back). */
function phasesOf(impl: Impl, faultAt: number, victim: number): Phases {
  const first = lab.client.find((s) => s.ok && s.t >= faultAt && s.node !== undefined && s.node !== nodeName(victim));
  if (first === undefined) return {};
  const survivor = nodeIdOf(first.node!);
  const phases: Phases = {};
  const after = (t: number | undefined): number | undefined => (t === undefined ? undefined : t - faultAt);
  if (impl.startsWith('sanode')) {
    const views = NODE_IDS.filter((id) => id !== victim).map(
      (id) => lab.history.get(id)!.find((e) => e.ev === 'view' && (e.atMs as number) >= faultAt && !(e.members as number[]).includes(victim))?.atMs as number | undefined,
    );
    if (views.every((t) => t !== undefined)) phases.viewMs = after(Math.max(...(views as number[])));
    const start = lab.history.get(survivor)!.find((e) => e.ev === 'resource' && e.rsc === 'web-ip' && e.op === 'start' && e.rc === 0 && (e.atMs as number) >= faultAt);
    phases.vipStartMs = after(start?.atMs as number | undefined);
  }
  phases.vipUpMs = after(lab.presence().find((p) => p.node === survivor && p.fromMs >= faultAt)?.fromMs);
  phases.servedMs = after(first.t);
  return phases;
}

async function runOnce(impl: Impl, driver: Driver, fault: Fault, round: number): Promise<RunResult> {
  const victim = await driver.settle();
  let faultAt = 0;
  let heal: (survivor: number) => Promise<void> = () => Promise.resolve();
  try {
    switch (fault) {
      case 'kill':
        faultAt = await driver.crash(victim);
        heal = () => driver.reboot(victim);
        break;
      case 'stop-2s':
      case 'stop-6s':
        faultAt = await driver.freeze(victim);
        heal = async () => {
          await driver.thaw(victim);
        };
        await sleep(fault === 'stop-2s' ? 2000 : 6000);
        await heal(victim);
        heal = () => Promise.resolve();
        break;
      case 'cut':
        faultAt = await lab.cut(victim, 'link-down');
        heal = () => lab.restore(victim);
        break;
      case 'partition':
        heal = () => lab.unisolate();
        faultAt = await lab.isolate(victim);
        break;
      case 'move':
        heal = (survivor) => driver.unmove(victim, survivor);
        faultAt = await driver.move(victim);
        break;
    }
    let survivor: number;
    if (fault === 'stop-2s' || fault === 'stop-6s') {
      await sleep(AFTER_THAW_MS);
      survivor = await settledOn('the service and the VIP on one node after SIGCONT', lab.client.length);
    } else {
      survivor = nodeIdOf(await lab.waitForService(WAIT_MS, { not: nodeName(victim), from: lab.client.length, count: ANSWERS_IN_A_ROW }));
    }
    const endAt = nowMs();
    const from = faultAt - 1000;
    const twoNodes = lab
      .confirmedOverlaps(endAt)
      .map((o) => Math.min(o.toMs, endAt) - Math.max(o.fromMs, from))
      .filter((ms) => ms > 0)
      .reduce((a, b) => a + b, 0);
    const result: RunResult = {
      impl,
      fault,
      round,
      victim,
      servedBy: survivor,
      outageMs: lab.outageMs(from, endAt).outageMs,
      vipTwoNodesMs: twoNodes,
      answeredByTwo: lab.answersFromTwoNodes(from, endAt, DUAL_WINDOW_MS).length,
      phases: phasesOf(impl, faultAt, victim),
    };
    await heal(survivor);
    heal = () => Promise.resolve();
    return result;
  } finally {
    // A failed run heals too, so the next one starts from a whole cluster.
    await heal(victim).catch((error: unknown) => console.error(`[${impl}] healing ${fault} of node ${victim} failed: ${(error as Error).message}`));
    if (fault === 'stop-2s' || fault === 'stop-6s') await driver.thaw(victim).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------

let cleaning: Promise<void> | undefined;
const cleanup = (): Promise<void> => (cleaning ??= lab.cleanup());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => {
      // Interrupted on purpose: the lab dir goes too, unless asked to keep it.
      if (!values.keep) rmSync(lab.dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const reason = (await HaLab.unavailable()) ?? (impls.some((i) => i.startsWith('keepalived')) ? await keepalivedUnavailable() : undefined);
if (reason !== undefined) {
  console.error(`bench:failover: ${reason}`);
  process.exit(2);
}

const results: RunResult[] = [];
const failures: string[] = [];
const failedIn = new Map<string, number>();
const fmt = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? '-' : ms.toFixed(0));
console.error(`bench:failover: ${impls.join(', ')} × ${faults.join(', ')} × ${runs} rounds; sanode VIP lease: ${vipLeaseMs === undefined ? `valid_lft ${LEASE_SECONDS} s` : `nft ${vipLeaseMs} ms + valid_lft ${LEASE_SECONDS} s`}; sanode service: ${serviceLayout}; lab ${lab.netns.prefix} in ${lab.dir}`);
try {
  await lab.setup();
  lab.startClient();
  for (let round = 1; round <= runs; round += 1) {
    for (const impl of impls) {
      const cells = faults.filter((f) => (failedIn.get(`${impl} ${f}`) ?? 0) < MAX_FAILED_PER_CELL);
      if (cells.length === 0) continue;
      const driver = driverFor(impl);
      try {
        await driver.start();
        for (const fault of cells) {
          try {
            const r = await runOnce(impl, driver, fault, round);
            results.push(r);
            console.error(
              `[${impl}] round ${round}/${runs} ${fault.padEnd(9)} node ${r.victim} -> node ${r.servedBy}: outage ${fmt(r.outageMs)} ms` +
                `, VIP on two nodes ${fmt(r.vipTwoNodesMs)} ms, answered by two ${r.answeredByTwo}` +
                ` (view ${fmt(r.phases.viewMs)}, VIP start ${fmt(r.phases.vipStartMs)}, VIP up ${fmt(r.phases.vipUpMs)}, served ${fmt(r.phases.servedMs)} ms)`,
            );
          } catch (error) {
            const key = `${impl} ${fault}`;
            failedIn.set(key, (failedIn.get(key) ?? 0) + 1);
            failures.push(`[${impl}] ${fault} round ${round}: ${(error as Error).message}`);
            console.error(`[${impl}] ${fault} round ${round} failed: ${(error as Error).message}\n${lab.describe()}`);
          }
        }
      } catch (error) {
        for (const f of cells) failedIn.set(`${impl} ${f}`, (failedIn.get(`${impl} ${f}`) ?? 0) + 1);
        failures.push(`[${impl}] start, round ${round}: ${(error as Error).message}`);
        console.error(`[${impl}] start failed: ${(error as Error).message}\n${lab.describe()}`);
      } finally {
        await driver.stop().catch((error: unknown) => console.error(`[${impl}] stop failed: ${(error as Error).message}`));
      }
    }
  }
} catch (error) {
  failures.push(`setup: ${(error as Error).message}`);
  console.error(`bench:failover: ${(error as Error).message}\n${lab.describe()}`);
} finally {
  await cleanup();
  const sanodeDual = results.some((r) => r.impl.startsWith('sanode') && r.answeredByTwo > 0);
  if (failures.length === 0 && !sanodeDual && !values.keep) rmSync(lab.dir, { recursive: true, force: true });
  else console.error(`kept the lab dir for the post-mortem: ${lab.dir}`);
}

// ---------------------------------------------------------------------------------------------
// Report

const cell = (impl: Impl, fault: Fault): RunResult[] => results.filter((r) => r.impl === impl && r.fault === fault);
const stats = (rs: RunResult[]): [number, number, number] => {
  const o = rs.map((r) => r.outageMs);
  return [median(o), percentile(o, 99), Math.max(...o)];
};
for (const impl of impls) {
  const rows: (string | number)[][] = [];
  for (const fault of faults) {
    const rs = cell(impl, fault);
    if (rs.length === 0) continue;
    const [med, p99, max] = stats(rs);
    const two = rs.filter((r) => r.vipTwoNodesMs > 0);
    const dual = rs.filter((r) => r.answeredByTwo > 0);
    rows.push([fault, rs.length, fmt(med), fmt(p99), fmt(max), `${two.length} (${fmt(two.reduce((s, r) => s + r.vipTwoNodesMs, 0))} ms)`, `${dual.length}`]);
  }
  if (rows.length === 0) continue;
  console.log(`\n${impl}${impl.startsWith('sanode') ? ` (VIP lease ${vipLeaseMs === undefined ? `valid_lft ${LEASE_SECONDS} s` : `nft ${vipLeaseMs} ms`}, service ${serviceLayout})` : ''}: client-observed outage`);
  console.log(formatTable(['fault', 'runs', 'median ms', 'p99 ms', 'max ms', 'runs with VIP on two nodes', 'runs answered by two nodes'], rows));
}

for (const [s, k] of PAIRS) {
  if (!impls.includes(s) || !impls.includes(k)) continue;
  const rows: (string | number)[][] = [];
  const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? (a / b).toFixed(2) : '-');
  for (const fault of faults) {
    const a = cell(s, fault);
    const b = cell(k, fault);
    if (a.length === 0 || b.length === 0) continue;
    const sa = stats(a);
    const sb = stats(b);
    rows.push([fault, ratio(sa[0], sb[0]), ratio(sa[1], sb[1]), ratio(sa[2], sb[2])]);
  }
  if (rows.length === 0) continue;
  console.log(`\n${s} / ${k}: outage ratio (below 1: sanode faster)`);
  console.log(formatTable(['fault', 'median', 'p99', 'max'], rows));
}

const phaseRows: (string | number)[][] = [];
for (const impl of impls) {
  for (const fault of faults) {
    const rs = cell(impl, fault).filter((r) => r.phases.servedMs !== undefined);
    if (rs.length === 0) continue;
    const med = (pick: (p: Phases) => number | undefined): string => {
      const v = rs.map((r) => pick(r.phases)).filter((x): x is number => x !== undefined);
      return v.length === 0 ? '-' : median(v).toFixed(0);
    };
    phaseRows.push([impl, fault, rs.length, med((p) => p.viewMs), med((p) => p.vipStartMs), med((p) => p.vipUpMs), med((p) => p.servedMs)]);
  }
}
if (phaseRows.length > 0) {
  console.log('\nper phase, medians in ms after the fault, over the runs in which another node took over (the first one to answer)');
  console.log(formatTable(['impl', 'fault', 'runs', 'view on survivors', 'VIP start done', 'VIP up (watcher)', 'first answer'], phaseRows));
}
if (failures.length > 0) console.log(`\nfailed runs (${failures.length}):\n${failures.join('\n')}`);
console.log(`\n${JSON.stringify({ vipLeaseMs: vipLeaseMs ?? null, leaseSeconds: LEASE_SECONDS, serviceLayout, results })}`);
process.exitCode = failures.length > 0 || results.some((r) => r.impl.startsWith('sanode') && r.answeredByTwo > 0) ? 1 : 0;
