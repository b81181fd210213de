/**
 * A high-availability lab on real network namespaces: three sanode nodes and one client on a
 * bridge, a group `web` = a kernel-leased VIP + a tiny HTTP server bound to it, a watcher that
 * records every moment the VIP is present in each node namespace, and a client that asks the
 * service through the VIP every 10 ms. Used by test/e2e/failover-netns.test.ts, the fault lab
 * and bench/failover.ts.
 *
 * Layout (every name carries the NetnsLab prefix `snt-…`, every address is in 10.77.0.0/24):
 *
 *   ns n1 ─ eth 10.77.0.1 ─┐
 *   ns n2 ─ eth 10.77.0.2 ─┼─ bridge (ns sw) ─ eth 10.77.0.50 ─ ns cl (client)
 *   ns n3 ─ eth 10.77.0.3 ─┘            VIP 10.77.0.100/24, HTTP on port 8080
 *
 * Every node namespace names its interface the same (`<prefix>eth`), so the VIP's `nic` param,
 * which the CIB holds once for the whole cluster, is right on every node.
 *
 * Faults:
 *  - crash(id): `kill -9` of the node's sanode process only. The supervised HTTP server runs in its
 *    own process group and survives, as after a real kill -9; the VIP stays in the kernel until
 *    its lease runs out. reboot(id) then ends what is left in that namespace (by PID: only
 *    processes this lab started live there) and starts the node again, as a host reboot would.
 *  - cut(id, 'silent'): the bridge port is put in the disabled state: nothing passes, but
 *    both ends keep carrier, so only the cluster (quorum loss → self-stop) can make the node drop
 *    the VIP — the VIP's own monitor still sees a healthy link. cut(id, 'link-down'):
 *    `ip link set dev <port> down` on the bridge: the node's interface loses carrier too.
 *    restore(id) undoes either.
 *  - isolate(id): a 2|1 partition at the switch (one nftables transaction in the bridge
 *    namespace; the client still reaches every node); unisolate() ends it. blackhole(id, to)
 *    drops one direction with a route in a node namespace (the fault lab's partitions).
 *
 * The namespaces outlive the sanode cluster: resetNodes() ends it and clears the node
 * namespaces (processes, the VIP, nftables rules), and useCluster() starts over with another
 * profile or VIP lease, or another HA implementation runs there (test/helpers/keepalived.ts).
 *
 * The watcher runs one small Node process in every node namespace. It samples the namespace's
 * addresses every 10 ms with getifaddrs (os.networkInterfaces: the same RTM_GETADDR dump that
 * `ip -j addr` prints, without spawning a process per sample on a busy 2-core machine) and also
 * follows `ip monitor address`, which reports every add, renewal and delete (a lease running out
 * included) as it happens, whatever the link state (getifaddrs hides addresses on links that are
 * not up). A node counts as holding the VIP from the first report of it to the report of its
 * removal; `overlaps()` returns every interval in which two nodes held it at once.
 *
 * Timestamps everywhere are performance.timeOrigin + performance.now() of the reporting process
 * (wall-clock based, same host), so lines from different processes compare to about a
 * millisecond.
 */
import { type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { NetnsLab, netnsUnavailable, run } from './netns.js';
import { ProcessCluster, type ProcessEvent } from './process-cluster.js';
import { INFINITY, type CibConfig, type OpConfig, type PrimitiveConfig } from '../../lib/cib/model.js';

export const SUBNET = '10.77.0';
export const VIP = `${SUBNET}.100`;
export const HTTP_PORT = 8080;
export const CLIENT_ADDRESS = `${SUBNET}.50`;
export const NODE_IDS = [1, 2, 3] as const;
export const nodeAddress = (id: number): string => `${SUBNET}.${id}`;
export const nodeName = (id: number): string => `node-${id}`;
export const nodeIdOf = (name: string): number => Number(/^node-(\d+)$/.exec(name)?.[1] ?? NaN);

const clusterFixture = join(dirname(fileURLToPath(import.meta.url)), 'cluster-process.js');
const nowMs = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type Profile = 'lan' | 'fast' | 'wan';
/** The switch namespace's nftables table of isolate(). */
const ISOLATE_TABLE = 'halab_partition';
export type CutMode = 'silent' | 'link-down';

export interface HaLabOptions {
  profile?: Profile;
  /** VIP lease (kernel valid_lft), seconds. Default 3. */
  leaseSeconds?: number;
  /** The vip agent's nftables lease (`leaseMs` param), ms; default none (valid_lft only). */
  vipLeaseMs?: number;
  /** Recurring monitor interval of both resources. Default 1000. */
  monitorMs?: number;
  resourceStickiness?: number;
  migrationThreshold?: number;
  /** joinCluster `resources.selfStopMs`; default: the library's. */
  selfStopMs?: number;
  /** Progress lines (the test's diagnostic, the bench's stderr). */
  log?: (line: string) => void;
  /** Keep the lab's temp dir (logs, node state) after cleanup. */
  keepDir?: boolean;
  /** NetnsLab prefix (must start with `snt-`, 9 characters); default: NetnsLab's own. */
  prefix?: string;
  /** Each node's leader callback reports `leader-tick` this often (cluster-process.ts). */
  leaderTickMs?: number;
  /**
   * 'group' (default): group `web` = VIP then the server bound to it, so the server moves with
   * the VIP. 'clone': the server (on 0.0.0.0) runs on every node as clone `web-app-clone` and the
   * VIP is colocated with it, as keepalived's users run a service: only the address moves.
   */
  serviceLayout?: 'group' | 'clone';
}

export interface ClientSample {
  /** When the request was sent and when it ended. */
  t0: number;
  t: number;
  ok: boolean;
  node?: string;
  err?: string;
}

export interface PresenceInterval {
  node: number;
  fromMs: number;
  /** Infinity while still present. */
  toMs: number;
}

export interface Overlap {
  nodes: [number, number];
  fromMs: number;
  toMs: number;
}

export interface WatchLine {
  src: 'poll' | 'mon' | 'tick' | 'ready' | 'error';
  t: number;
  present?: boolean;
  /** poll: the time of the sample before this one (the change happened in (prevT, t]). */
  prevT?: number;
  /** poll: the interface is up and running; when not, getifaddrs hides its addresses. */
  running?: boolean;
  line?: string;
  maxGapMs?: number;
  message?: string;
}

// ---------------------------------------------------------------------------------------------
// The three small programs the lab runs inside its namespaces (plain ESM, written to a temp dir).

/**
 * argv: host port subnetPrefix [name] — answers 200 with the node's name (node-N from 10.77.0.N,
 * or the name given: a server bound to 0.0.0.0 may start while the VIP is in its namespace).
 */
const SERVER_JS = `
import http from 'node:http';
import os from 'node:os';
const [host, port, subnet, given] = process.argv.slice(2);
const own = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && a.address.startsWith(subnet + '.') && a.address !== host);
const name = given ?? (own ? 'node-' + own.address.split('.')[3] : 'node-?');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(name);
});
server.on('error', (error) => { console.error(String(error)); process.exit(1); });
server.listen({ host, port: Number(port) });
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
`;

/** argv: url intervalMs timeoutMs — one JSON line per request: {t0, t, ok, node|err}. */
const CLIENT_JS = `
import http from 'node:http';
const [url, intervalText = '10', timeoutText = '300'] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
setInterval(() => {
  const t0 = now();
  let done = false;
  const finish = (o) => { if (!done) { done = true; out({ t0, t: now(), ...o }); } };
  const req = http.get(url, { agent: false, timeout: Number(timeoutText) }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => finish(res.statusCode === 200 ? { ok: true, node: body } : { ok: false, err: 'http ' + res.statusCode }));
    res.on('error', (e) => finish({ ok: false, err: e.code ?? e.message }));
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => finish({ ok: false, err: e.code ?? e.message }));
}, Number(intervalText));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * argv: vip intervalMs nic — reports {src:'poll', t, prevT, present, running} on every change of
 * presence or of the link's running state (prevT: the sample before), {src:'mon', t, present} on
 * every address report about the VIP,
 * {src:'tick', maxGapMs} every second (the largest pause between two samples: the watcher's
 * blind spot), {src:'ready'} once both sources run.
 */
const WATCH_JS = `
import os from 'node:os';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
const [vip, intervalText = '10', nic = ''] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const mon = spawn('ip', ['monitor', 'address'], { stdio: ['ignore', 'pipe', 'pipe'] });
const needle = ' inet ' + vip + '/';
createInterface({ input: mon.stdout }).on('line', (line) => {
  if (!line.includes(needle)) return;
  out({ src: 'mon', t: now(), present: !line.startsWith('Deleted'), line: line.trim() });
});
mon.stderr.on('data', (d) => out({ src: 'error', t: now(), message: String(d) }));
mon.on('exit', (code) => { out({ src: 'error', t: now(), message: 'ip monitor exited ' + code }); process.exit(1); });
let last;
let lastRunning;
let lastSample = now();
let maxGapMs = 0;
const sample = () => {
  const t = now();
  const prevT = lastSample;
  maxGapMs = Math.max(maxGapMs, t - lastSample);
  lastSample = t;
  const all = os.networkInterfaces();
  const present = Object.values(all).flat().some((a) => a && a.address === vip);
  const running = nic === '' || all[nic] !== undefined;
  if (present !== last || running !== lastRunning) { out({ src: 'poll', t, prevT, present, running }); last = present; lastRunning = running; }
};
// ip monitor subscribes before printing anything; give it a moment, then the first sample.
setTimeout(() => {
  sample();
  out({ src: 'ready', t: now() });
  setInterval(sample, Number(intervalText));
  setInterval(() => { out({ src: 'tick', t: now(), maxGapMs }); maxGapMs = 0; }, 1000);
}, 200);
const quit = () => { mon.kill('SIGTERM'); process.exit(0); };
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
`;

// ---------------------------------------------------------------------------------------------

/** Every pair of intervals of two different nodes that share a stretch of positive length. */
export function pairwiseOverlaps(intervals: readonly PresenceInterval[]): Overlap[] {
  const out: Overlap[] = [];
  for (let i = 0; i < intervals.length; i += 1) {
    for (let j = i + 1; j < intervals.length; j += 1) {
      const a = intervals[i]!;
      const b = intervals[j]!;
      if (a.node === b.node) continue;
      const fromMs = Math.max(a.fromMs, b.fromMs);
      const toMs = Math.min(a.toMs, b.toMs);
      if (fromMs < toMs) out.push({ nodes: [a.node, b.node], fromMs, toMs });
    }
  }
  return out;
}

export class HaLab {
  readonly netns: NetnsLab;
  readonly dir = mkdtempSync(join(tmpdir(), 'sanode-ha-lab-'));
  /** Changed by useCluster(), which starts another cluster in the same namespaces. */
  profile: Profile;
  readonly options: HaLabOptions;
  readonly namespaces = new Map<number, string>();
  readonly nic: string;
  sw = '';
  clientNs = '';
  cluster: ProcessCluster | undefined;
  /** Every event every node process ever printed, across restarts, in arrival order. */
  readonly history = new Map<number, ProcessEvent[]>();
  readonly client: ClientSample[] = [];
  /** Per node: the watcher's reports. */
  readonly watch = new Map<number, WatchLine[]>();
  readonly watchers = new Map<number, ChildProcessWithoutNullStreams>();
  clientProcess: ChildProcessWithoutNullStreams | undefined;
  private readonly waiters = new Set<() => void>();
  private refSeq = 0;
  /** The HTTP server script (argv: host port subnet [name]), for services run beside the lab's. */
  readonly serverPath: string;
  private readonly logPath: string;
  private readonly cuts = new Map<number, CutMode>();
  private readonly blackholes = new Set<string>();
  private isolated = false;

  static unavailable(): Promise<string | undefined> {
    return netnsUnavailable();
  }

  constructor(options: HaLabOptions = {}) {
    this.options = options;
    this.netns = new NetnsLab(options.prefix);
    this.profile = options.profile ?? 'lan';
    this.nic = this.netns.name('eth');
    this.serverPath = join(this.dir, 'server.mjs');
    this.logPath = join(this.dir, 'lab.log');
    writeFileSync(this.serverPath, SERVER_JS);
    writeFileSync(join(this.dir, 'client.mjs'), CLIENT_JS);
    writeFileSync(join(this.dir, 'watch.mjs'), WATCH_JS);
    for (const id of NODE_IDS) {
      this.history.set(id, []);
      this.watch.set(id, []);
    }
  }

  log(line: string): void {
    appendFileSync(this.logPath, `${new Date().toISOString()} ${line}\n`);
    this.options.log?.(line);
  }

  /** Namespaces, bridge, veths, addresses; then the watchers. Nodes are started separately. */
  async setup(): Promise<void> {
    this.sw = await this.netns.addNamespace('sw');
    const bridge = this.netns.name('br');
    await this.netns.addBridge(this.sw, bridge);
    for (const id of NODE_IDS) {
      const ns = await this.netns.addNamespace(`n${id}`);
      this.namespaces.set(id, ns);
      await this.netns.addVeth(ns, this.nic, this.sw, this.netns.name(`p${id}`));
      await this.netns.attach(this.sw, this.netns.name(`p${id}`), bridge);
      await this.netns.addAddress(ns, this.nic, `${nodeAddress(id)}/24`);
    }
    this.clientNs = await this.netns.addNamespace('cl');
    await this.netns.addVeth(this.clientNs, this.nic, this.sw, this.netns.name('pc'));
    await this.netns.attach(this.sw, this.netns.name('pc'), bridge);
    await this.netns.addAddress(this.clientNs, this.nic, `${CLIENT_ADDRESS}/24`);
    for (const id of NODE_IDS) this.startWatcher(id);
    await this.waitUntil('every watcher ready', () => NODE_IDS.every((id) => this.watch.get(id)!.some((l) => l.src === 'ready')), 20_000);
    this.cluster = this.newCluster();
  }

  /**
   * Another cluster of sanode processes in the same namespaces, with other settings (a profile,
   * a VIP lease), nodes not started. Call resetNodes() first so nothing of the last one is left.
   */
  useCluster(settings: Pick<HaLabOptions, 'profile' | 'leaseSeconds' | 'vipLeaseMs' | 'monitorMs' | 'selfStopMs' | 'serviceLayout'>): void {
    Object.assign(this.options, settings);
    this.profile = this.options.profile ?? 'lan';
    this.cluster = this.newCluster();
  }

  /**
   * Ends the running cluster and everything else in the node namespaces except the watchers (by
   * PID), then removes the VIP and every nftables rule there (a killed holder's nft lease table),
   * so that another cluster, or another HA implementation, starts from clean namespaces.
   */
  async resetNodes(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = undefined;
    for (const id of NODE_IDS) {
      await this.killLeftovers(id);
      const ns = this.namespaces.get(id)!;
      await this.netns.exec(ns, ['ip', 'addr', 'del', `${VIP}/24`, 'dev', this.nic]).catch(() => undefined);
      await this.netns.exec(ns, ['nft', 'flush', 'ruleset']).catch(() => undefined);
    }
  }

  private newCluster(): ProcessCluster {
    return new ProcessCluster(NODE_IDS.length, {
      fixture: clusterFixture,
      addresses: nodeAddress,
      spawnNode: (id, argv) => this.spawnNode(id, argv),
      configFor: (id, common) => ({
        ...(this.options.leaderTickMs === undefined ? {} : { leaderTickMs: this.options.leaderTickMs }),
        options: {
          cluster: 'ha-lab',
          node: { id, name: nodeName(id) },
          transport: { nodes: common.nodes.map((n) => ({ ...n, name: nodeName(n.id) })), port: common.port },
          keyHex: common.key,
          stateDir: common.stateDir,
          profile: this.profile,
          cib: this.cibConfig(),
          ...(this.options.selfStopMs === undefined ? {} : { resources: { selfStopMs: this.options.selfStopMs } }),
        },
      }),
    });
  }

  /** The initial configuration every node starts from. */
  cibConfig(): CibConfig {
    const monitorMs = this.options.monitorMs ?? 1000;
    const lease = this.options.leaseSeconds ?? 3;
    const ops: OpConfig[] = [
      { name: 'start', intervalMs: 0, timeoutMs: 20_000 },
      { name: 'stop', intervalMs: 0, timeoutMs: 20_000 },
      { name: 'monitor', intervalMs: monitorMs, timeoutMs: 10_000 },
    ];
    const vipResource: PrimitiveConfig = {
      kind: 'primitive',
      id: 'web-ip',
      agent: { class: 'sanode', type: 'vip' },
      params: {
        ip: VIP,
        cidrNetmask: '24',
        nic: this.nic,
        leaseSeconds: String(lease),
        arpCount: '1',
        ...(this.options.vipLeaseMs === undefined ? {} : { leaseMs: String(this.options.vipLeaseMs) }),
      },
      ops,
    };
    const base = {
      properties: { noQuorumPolicy: 'stop' as const, stonithEnabled: false },
      rscDefaults: {
        resourceStickiness: this.options.resourceStickiness ?? 100,
        migrationThreshold: this.options.migrationThreshold ?? 2,
      },
      nodes: NODE_IDS.map((id) => ({ id: String(id), name: nodeName(id) })),
    };
    if (this.options.serviceLayout === 'clone') {
      return {
        ...base,
        resources: [
          vipResource,
          {
            kind: 'clone',
            id: 'web-app-clone',
            child: {
              kind: 'primitive',
              id: 'web-app',
              agent: { class: 'sanode', type: 'process' },
              // Reached only through the VIP's kernel lease: a lost node's copy serves nobody.
              meta: { holdoverMs: 0 },
              params: {
                command: process.execPath,
                args: `${this.serverPath} 0.0.0.0 ${HTTP_PORT} ${SUBNET}`,
                healthUrl: `http://127.0.0.1:${HTTP_PORT}/`,
                stopTimeoutMs: '2000',
                checkTimeoutMs: '1000',
                checkIntervalMs: '50',
              },
              ops,
            },
          },
        ],
        constraints: [
          { kind: 'colocation', id: 'web-ip-with-app', rsc: 'web-ip', withRsc: 'web-app-clone', score: INFINITY },
          { kind: 'order', id: 'web-app-then-ip', first: 'web-app-clone', then: 'web-ip', orderKind: 'Optional' },
        ],
      };
    }
    return {
      ...base,
      resources: [
        {
          kind: 'group',
          id: 'web',
          members: [
            {
              kind: 'primitive',
              id: 'web-ip',
              agent: { class: 'sanode', type: 'vip' },
              params: {
                ip: VIP,
                cidrNetmask: '24',
                nic: this.nic,
                leaseSeconds: String(lease),
                arpCount: '1',
                ...(this.options.vipLeaseMs === undefined ? {} : { leaseMs: String(this.options.vipLeaseMs) }),
              },
              ops: [
                { name: 'start', intervalMs: 0, timeoutMs: 20_000 },
                { name: 'stop', intervalMs: 0, timeoutMs: 20_000 },
                { name: 'monitor', intervalMs: monitorMs, timeoutMs: 10_000 },
              ],
            },
            {
              kind: 'primitive',
              id: 'web-app',
              agent: { class: 'sanode', type: 'process' },
              // The server listens on the VIP only, so once the VIP is dark (its kernel lease,
              // the group's own holdover) it serves nobody: it need not hold the group back.
              meta: { holdoverMs: 0 },
              params: {
                command: process.execPath,
                args: `${this.serverPath} ${VIP} ${HTTP_PORT} ${SUBNET}`,
                healthUrl: `http://${VIP}:${HTTP_PORT}/`,
                stopTimeoutMs: '2000',
                checkTimeoutMs: '1000',
                checkIntervalMs: '50',
              },
              ops: [
                { name: 'start', intervalMs: 0, timeoutMs: 20_000 },
                { name: 'stop', intervalMs: 0, timeoutMs: 20_000 },
                { name: 'monitor', intervalMs: monitorMs, timeoutMs: 10_000 },
              ],
            },
          ],
        },
      ],
    };
  }

  private spawnNode(id: number, argv: string[]): ChildProcessWithoutNullStreams {
    const child = this.netns.spawn(this.namespaces.get(id)!, [process.execPath, ...argv]);
    const history = this.history.get(id)!;
    this.log(`node ${id}: started pid ${child.pid}`);
    createInterface({ input: child.stdout }).on('line', (line) => {
      appendFileSync(join(this.dir, `node-${id}.jsonl`), `${line}\n`);
      try {
        history.push(JSON.parse(line) as ProcessEvent);
      } catch {
        // not an event
      }
      this.wake();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => appendFileSync(join(this.dir, `node-${id}.stderr`), chunk));
    child.once('exit', (code, signal) => {
      this.log(`node ${id}: pid ${child.pid} exited (${signal ?? code})`);
      this.wake();
    });
    return child;
  }

  private startWatcher(id: number): void {
    const child = this.netns.spawn(this.namespaces.get(id)!, [process.execPath, join(this.dir, 'watch.mjs'), VIP, '10', this.nic]);
    this.watchers.set(id, child);
    const lines = this.watch.get(id)!;
    createInterface({ input: child.stdout }).on('line', (line) => {
      appendFileSync(join(this.dir, `watch-${id}.jsonl`), `${line}\n`);
      try {
        lines.push(JSON.parse(line) as WatchLine);
      } catch {
        // not a report
      }
      this.wake();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => appendFileSync(join(this.dir, `watch-${id}.stderr`), chunk));
  }

  /** Starts the HTTP client in the client namespace (once). */
  startClient(): void {
    if (this.clientProcess !== undefined) return;
    const child = this.netns.spawn(this.clientNs, [process.execPath, join(this.dir, 'client.mjs'), `http://${VIP}:${HTTP_PORT}/`, '10', '300']);
    this.clientProcess = child;
    createInterface({ input: child.stdout }).on('line', (line) => {
      appendFileSync(join(this.dir, 'client.jsonl'), `${line}\n`);
      try {
        this.client.push(JSON.parse(line) as ClientSample);
      } catch {
        // not a sample
      }
      this.wake();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => appendFileSync(join(this.dir, 'client.stderr'), chunk));
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  start(id: number): void {
    this.cluster!.start(id);
  }

  startAll(): void {
    for (const id of NODE_IDS) this.start(id);
  }

  running(id: number): boolean {
    const node = this.cluster?.nodes.get(id);
    return node !== undefined && !node.exited;
  }

  /** kill -9 of the node's sanode process (only). Returns the time just before the signal. */
  crash(id: number): number {
    const at = nowMs();
    this.log(`node ${id}: kill -9`);
    this.cluster!.kill(id, 'SIGKILL');
    return at;
  }

  /** Ends what is left in a node's namespace (its orphaned supervised commands), then starts it. */
  async reboot(id: number): Promise<void> {
    await this.waitUntil(`node ${id} process exited`, () => !this.running(id), 10_000);
    await this.killLeftovers(id);
    this.start(id);
  }

  /**
   * Kills, by PID, every process in node `id`'s namespace except its watcher. Only this lab
   * starts processes there (the node, the commands its agents run, the watcher).
   */
  async killLeftovers(id: number): Promise<number[]> {
    const keep = new Set([this.watchers.get(id)?.pid]);
    const pids = (await this.namespacePids(id)).filter((pid) => !keep.has(pid) && !this.isWatcherChild(pid, id));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        this.log(`node ${id}: killed leftover pid ${pid} (${this.cmdline(pid)})`);
      } catch {
        // already gone
      }
    }
    return pids;
  }

  private isWatcherChild(pid: number, id: number): boolean {
    try {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      return ppid === this.watchers.get(id)?.pid;
    } catch {
      return true; // gone: nothing to kill
    }
  }

  async namespacePids(id: number): Promise<number[]> {
    const { stdout } = await run('ip', ['netns', 'pids', this.namespaces.get(id)!]);
    return stdout
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  }

  argv(pid: number): string[] {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    } catch {
      return [];
    }
  }

  cmdline(pid: number): string {
    return this.argv(pid).join(' ').slice(0, 200);
  }

  /** PIDs of the HTTP server (the process agent's command) running in node `id`'s namespace. */
  async serverPids(id: number): Promise<number[]> {
    return (await this.namespacePids(id)).filter((pid) => this.argv(pid)[1] === this.serverPath);
  }

  /**
   * Resolves when the watcher next reports the VIP (re)added in node `id`'s namespace: a renewal
   * by the VIP's monitor (`ip addr change` is reported like an add). Killing the node right after
   * is the worst case for a kill -9: its VIP then lingers a whole lease.
   */
  async waitForRenewal(id: number, timeoutMs: number): Promise<number> {
    const lines = this.watch.get(id)!;
    const from = lines.length;
    let at = 0;
    await this.waitUntil(`a VIP renewal on node ${id}`, () => {
      const found = lines.slice(from).find((l) => l.src === 'mon' && l.present === true);
      if (found !== undefined) at = found.t;
      return found !== undefined;
    }, timeoutMs);
    return at;
  }

  /** Cuts node `id` off the bridge (see the header for the two modes). */
  async cut(id: number, mode: CutMode = 'silent'): Promise<number> {
    const port = this.netns.name(`p${id}`);
    const at = nowMs();
    this.log(`node ${id}: cut (${mode})`);
    // `bridge link set … state`: `ip link set … type bridge_slave state` exits 0 on this
    // iproute2 (6.1) but leaves the port forwarding.
    if (mode === 'silent') await run('bridge', ['-n', this.sw, 'link', 'set', 'dev', port, 'state', '0']);
    else await run('ip', ['-n', this.sw, 'link', 'set', 'dev', port, 'down']);
    this.cuts.set(id, mode);
    return at;
  }

  async restore(id: number): Promise<void> {
    const port = this.netns.name(`p${id}`);
    const mode = this.cuts.get(id);
    this.log(`node ${id}: restore (${mode})`);
    if (mode === 'link-down') await run('ip', ['-n', this.sw, 'link', 'set', 'dev', port, 'up']);
    // Forwarding (3) again; also after link-down, in case the port came back in another state.
    await run('bridge', ['-n', this.sw, 'link', 'set', 'dev', port, 'state', '3']);
    this.cuts.delete(id);
  }

  /** SIGSTOP of the node's sanode process (its supervised server runs on). Returns the time just before. */
  freeze(id: number): number {
    const at = nowMs();
    this.log(`node ${id}: SIGSTOP`);
    this.cluster!.kill(id, 'SIGSTOP');
    return at;
  }

  thaw(id: number): number {
    const at = nowMs();
    this.log(`node ${id}: SIGCONT`);
    this.cluster!.kill(id, 'SIGCONT');
    return at;
  }

  /**
   * Drops, in node `id`'s namespace, every packet it would send to `to` (a /32 blackhole route,
   * longer than the subnet's on-link route). Packets from `to` still arrive: one direction only.
   * The client's address is never blackholed, so the client still reaches every node.
   */
  async blackhole(id: number, to: number): Promise<void> {
    this.log(`node ${id}: blackhole to node ${to}`);
    await run('ip', ['-n', this.namespaces.get(id)!, 'route', 'add', 'blackhole', `${nodeAddress(to)}/32`]);
    this.blackholes.add(`${id}>${to}`);
  }

  async unblackhole(id: number, to: number): Promise<void> {
    this.log(`node ${id}: blackhole to node ${to} removed`);
    await run('ip', ['-n', this.namespaces.get(id)!, 'route', 'del', 'blackhole', `${nodeAddress(to)}/32`]);
    this.blackholes.delete(`${id}>${to}`);
  }

  /**
   * A 2|1 partition at the switch: one nftables transaction in the bridge namespace drops every
   * frame between node `id`'s port and the other nodes' ports, both ways, so the cut takes effect
   * at one instant (four blackhole routes in three namespaces take up to a second to add on a
   * loaded machine); the client's port still reaches every node. Returns the time just before.
   */
  async isolate(id: number): Promise<number> {
    const victim = this.netns.name(`p${id}`);
    const others = NODE_IDS.filter((n) => n !== id).map((n) => `"${this.netns.name(`p${n}`)}"`).join(', ');
    const script = join(this.dir, 'isolate.nft');
    writeFileSync(
      script,
      [
        `add table bridge ${ISOLATE_TABLE}`,
        `add chain bridge ${ISOLATE_TABLE} isolate { type filter hook forward priority 0; policy accept; }`,
        `add rule bridge ${ISOLATE_TABLE} isolate iifname "${victim}" oifname { ${others} } drop`,
        `add rule bridge ${ISOLATE_TABLE} isolate iifname { ${others} } oifname "${victim}" drop`,
        '',
      ].join('\n'),
    );
    const at = nowMs();
    this.log(`node ${id}: isolated at the switch`);
    await run('ip', ['netns', 'exec', this.sw, 'nft', '-f', script]);
    this.isolated = true;
    return at;
  }

  /** Ends the partition isolate() made. */
  async unisolate(): Promise<void> {
    if (!this.isolated) return;
    this.log('partition at the switch removed');
    await run('ip', ['netns', 'exec', this.sw, 'nft', 'delete', 'table', 'bridge', ISOLATE_TABLE]);
    this.isolated = false;
  }

  /** Removes every blackhole route this lab added. */
  async clearBlackholes(): Promise<void> {
    for (const key of [...this.blackholes]) {
      const [id, to] = key.split('>').map(Number) as [number, number];
      await this.unblackhole(id, to);
    }
  }

  /** Asks node `id` to leave gracefully and waits (bounded) for its process to exit. */
  async leave(id: number, timeoutMs: number): Promise<number> {
    const at = nowMs();
    this.log(`node ${id}: leave`);
    this.cluster!.send(id, { cmd: 'leave' });
    await this.waitUntil(`node ${id} left and exited`, () => !this.running(id), timeoutMs);
    return at;
  }

  /** Sends a command to a node's stdin and waits for its `admin-done` (throws on `admin-error`). */
  async admin(id: number, op: string, args: unknown[], timeoutMs = 30_000): Promise<void> {
    const ref = `r${++this.refSeq}`;
    const from = this.history.get(id)!.length;
    this.log(`node ${id}: ${op}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
    this.cluster!.send(id, { cmd: 'admin', op, args, ref });
    const reply = await this.waitForEvent(id, `${op} reply`, (e) => (e.ev === 'admin-done' || e.ev === 'admin-error') && e.ref === ref, timeoutMs, from);
    if (reply.ev === 'admin-error') throw new Error(`node ${id}: ${op}(${JSON.stringify(args)}) failed: ${String(reply.code)}: ${String(reply.message)}`);
  }

  /** The CIB as node `id` has it. */
  async cib(id: number, timeoutMs = 10_000): Promise<{ cib: Record<string, unknown>; version: unknown }> {
    const from = this.history.get(id)!.length;
    this.cluster!.send(id, { cmd: 'cib-get' });
    const state = await this.waitForEvent(id, 'cib-state', (e) => e.ev === 'cib-state', timeoutMs, from);
    return { cib: state.cib as Record<string, unknown>, version: state.version };
  }

  /** failCount of `rsc` on `node` in node `via`'s CIB (0 when absent). */
  async failCount(via: number, rsc: string, node: string): Promise<number> {
    const { cib } = await this.cib(via);
    const status = cib.status as { nodes?: Record<string, { resources?: Record<string, { failCount?: number }> }> } | undefined;
    return status?.nodes?.[node]?.resources?.[rsc]?.failCount ?? 0;
  }

  async waitForEvent(id: number, what: string, match: (e: ProcessEvent) => boolean, timeoutMs: number, from = 0): Promise<ProcessEvent> {
    let found: ProcessEvent | undefined;
    await this.waitUntil(`node ${id}: ${what}`, () => (found = this.history.get(id)!.slice(from).find(match)) !== undefined, timeoutMs);
    return found!;
  }

  /** Latest view (members) reported by each running node. */
  latestView(id: number): number[] | undefined {
    const node = this.cluster?.nodes.get(id);
    const view = node?.events.filter((e) => e.ev === 'view').at(-1);
    return view === undefined ? undefined : (view.members as number[]);
  }

  async waitForView(ids: readonly number[], members: readonly number[], timeoutMs: number): Promise<void> {
    const want = JSON.stringify([...members].sort((a, b) => a - b));
    await this.waitUntil(`view ${want} on ${ids.join(',')}`, () => ids.every((id) => this.running(id) && JSON.stringify(this.latestView(id)) === want), timeoutMs);
  }

  // -------------------------------------------------------------------------------------------
  // The VIP as the watcher saw it

  /** Presence intervals of the VIP per node, from both watcher sources (present if either says so). */
  presence(): PresenceInterval[] {
    const intervals: PresenceInterval[] = [];
    for (const id of NODE_IDS) {
      let poll = false;
      let mon = false;
      let since: number | undefined;
      for (const line of this.watch.get(id)!) {
        if (line.src === 'poll') poll = line.present === true;
        else if (line.src === 'mon') mon = line.present === true;
        else continue;
        const present = poll || mon;
        if (present && since === undefined) since = line.t;
        else if (!present && since !== undefined) {
          intervals.push({ node: id, fromMs: since, toMs: line.t });
          since = undefined;
        }
      }
      if (since !== undefined) intervals.push({ node: id, fromMs: since, toMs: Infinity });
    }
    return intervals;
  }

  /**
   * The VIP's presence per node counting only what a watcher saw, never what it may have missed
   * between two samples: from the first poll sample that saw the address to the last one that
   * did (the `prevT` of the sample that no longer saw it). While the node's link is not running
   * the poll is blind (getifaddrs hides such addresses), and `ip monitor`'s add and delete
   * reports stand in for it. Two nodes overlapping in these intervals certainly held the VIP at
   * the same moment; `presence()` (either source, first to last report) is the upper bound.
   */
  confirmedPresence(untilMs = nowMs()): PresenceInterval[] {
    const out: PresenceInterval[] = [];
    for (const id of NODE_IDS) {
      let pollOn: number | undefined;
      let blindOn: number | undefined;
      let running = true;
      let monPresent = false;
      for (const line of this.watch.get(id)!) {
        if (line.src === 'poll') {
          const present = line.present === true;
          if (pollOn !== undefined && !present) {
            out.push({ node: id, fromMs: pollOn, toMs: line.prevT ?? line.t });
            pollOn = undefined;
            // The link stopped running with the address still there (as far as ip monitor knows).
            if (line.running === false && monPresent) blindOn = line.prevT ?? line.t;
          } else if (pollOn === undefined && present) {
            pollOn = line.t;
            if (blindOn !== undefined) out.push({ node: id, fromMs: blindOn, toMs: line.t });
            blindOn = undefined;
          }
          running = line.running !== false;
        } else if (line.src === 'mon') {
          monPresent = line.present === true;
          if (running || pollOn !== undefined) continue;
          if (monPresent && blindOn === undefined) blindOn = line.t;
          else if (!monPresent && blindOn !== undefined) {
            out.push({ node: id, fromMs: blindOn, toMs: line.t });
            blindOn = undefined;
          }
        }
      }
      const open = pollOn ?? blindOn;
      if (open !== undefined) out.push({ node: id, fromMs: open, toMs: untilMs });
    }
    return out.filter((i) => i.toMs >= i.fromMs);
  }

  /** Every interval in which two nodes' confirmed presence (above) overlaps. */
  confirmedOverlaps(untilMs = nowMs()): Overlap[] {
    return pairwiseOverlaps(this.confirmedPresence(untilMs));
  }

  /** Nodes whose namespace holds the VIP now, as far as the watcher has reported. */
  holders(): number[] {
    return [...new Set(this.presence().filter((i) => i.toMs === Infinity).map((i) => i.node))].sort();
  }

  /** Every interval (from `sinceMs`) during which two nodes held the VIP at once. */
  overlaps(sinceMs = 0): Overlap[] {
    return pairwiseOverlaps(this.presence().filter((i) => i.toMs >= sinceMs));
  }

  /** The shortest handover (one node's removal to another's add) since `sinceMs`; Infinity if none. */
  minHandoverGapMs(sinceMs = 0): number {
    const intervals = this.presence().filter((i) => i.fromMs >= sinceMs || i.toMs >= sinceMs);
    let min = Infinity;
    for (const a of intervals) {
      for (const b of intervals) {
        if (a.node !== b.node && b.fromMs >= a.toMs && b.fromMs >= sinceMs) min = Math.min(min, b.fromMs - a.toMs);
      }
    }
    return min;
  }

  /** The largest pause between two watcher samples in any namespace (its blind spot). */
  watcherMaxGapMs(sinceMs = 0): number {
    let max = 0;
    for (const id of NODE_IDS) for (const l of this.watch.get(id)!) if (l.src === 'tick' && l.t >= sinceMs) max = Math.max(max, l.maxGapMs ?? 0);
    return max;
  }

  // -------------------------------------------------------------------------------------------
  // The client's view

  /** The node that served the latest successful answer. */
  servedBy(): string | undefined {
    for (let i = this.client.length - 1; i >= 0; i -= 1) if (this.client[i]!.ok) return this.client[i]!.node;
    return undefined;
  }

  /** Waits until the client has had `count` answers in a row, all from one node (optionally: not from `not`). */
  async waitForService(timeoutMs: number, options: { not?: string; from?: number; count?: number } = {}): Promise<string> {
    const count = options.count ?? 20;
    let node: string | undefined;
    await this.waitUntil(
      `the client served ${count} times in a row by one node${options.not ? ` other than ${options.not}` : ''}`,
      () => {
        const recent = this.client.slice(Math.max(options.from ?? 0, this.client.length - count));
        if (recent.length < count || !recent.every((s) => s.ok && s.node === recent[0]!.node)) return false;
        if (options.not !== undefined && recent[0]!.node === options.not) return false;
        node = recent[0]!.node;
        return true;
      },
      timeoutMs,
    );
    return node!;
  }

  /**
   * The longest time the client went without an answer, between `fromMs` and `toMs`: the gap
   * between the ends of two successive successful requests (or from `fromMs` to the first one).
   */
  outageMs(fromMs: number, toMs: number): { outageMs: number; gapStartMs: number; gapEndMs: number } {
    const ok = this.client.filter((s) => s.ok && s.t >= fromMs && s.t <= toMs).map((s) => s.t).sort((a, b) => a - b);
    let best = { outageMs: 0, gapStartMs: fromMs, gapEndMs: fromMs };
    let prev = fromMs;
    for (const t of ok) {
      if (t - prev > best.outageMs) best = { outageMs: t - prev, gapStartMs: prev, gapEndMs: t };
      prev = t;
    }
    if (toMs - prev > best.outageMs) best = { outageMs: toMs - prev, gapStartMs: prev, gapEndMs: toMs };
    return best;
  }

  /**
   * Pairs of successive answers (by end time) between `fromMs` and `toMs` from two different
   * nodes where the second request was sent less than `windowMs` after the first answer ended,
   * or before it: two nodes serving the VIP at once (docs/fault-lab.md, "Dual answers").
   */
  answersFromTwoNodes(fromMs: number, toMs: number, windowMs: number): { first: ClientSample; second: ClientSample }[] {
    const ok = this.client.filter((s) => s.ok && s.node !== undefined && s.t >= fromMs && s.t <= toMs).sort((a, b) => a.t - b.t);
    const pairs: { first: ClientSample; second: ClientSample }[] = [];
    ok.forEach((second, i) => {
      const first = ok[i - 1];
      if (first !== undefined && first.node !== second.node && second.t0 - first.t < windowMs) pairs.push({ first, second });
    });
    return pairs;
  }

  /** Which nodes answered, in order of first answer, since `fromMs`. */
  answeredBy(fromMs: number): string[] {
    const seen: string[] = [];
    for (const s of this.client) if (s.ok && s.t >= fromMs && s.node !== undefined && seen.at(-1) !== s.node) seen.push(s.node);
    return seen;
  }

  // -------------------------------------------------------------------------------------------

  /** The resource events of node `id` since index `from` (cumulative across restarts). */
  resourceEvents(id: number, from = 0): ProcessEvent[] {
    return this.history.get(id)!.slice(from).filter((e) => e.ev === 'resource');
  }

  /** Polls an async check every 200 ms until it holds, or throws after `timeoutMs` with its last value. */
  async eventually<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last ${JSON.stringify(value)} (lab dir ${this.dir})`);
      await sleep(200);
    }
  }

  async waitUntil(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (predicate()) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (lab dir ${this.dir})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 200));
        const waiters = this.waiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** A summary for a failed run: the lab dir and the tail of each node's resource events. */
  describe(): string {
    const lines = [`lab dir: ${this.dir}`, `holders now: ${this.holders().join(',') || 'none'}; served by ${this.servedBy() ?? 'nobody'}`];
    for (const id of NODE_IDS) {
      const events = this.resourceEvents(id).slice(-8).map((e) => `${String(e.rsc)} ${String(e.op)}/${String(e.intervalMs)} rc=${String(e.rc)}`);
      lines.push(`node ${id}: view ${JSON.stringify(this.latestView(id))} running=${this.running(id)} last resource events: ${events.join('; ')}`);
    }
    return lines.join('\n');
  }

  /**
   * Ends everything this lab started (node processes, the commands their agents left behind in
   * the lab's namespaces, watchers, client), by PID, then removes every namespace and interface.
   */
  async cleanup(): Promise<void> {
    try {
      await this.cluster?.stop();
    } catch {
      // keep cleaning
    }
    for (const id of NODE_IDS) {
      if (!this.namespaces.has(id)) continue;
      try {
        for (const pid of await this.namespacePids(id)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace already gone
      }
    }
    await this.netns.cleanup();
    if (!this.options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
