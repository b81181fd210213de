/**
 * keepalived in the namespace HA lab (ha-lab.ts), for bench/failover.ts: Debian's keepalived,
 * one VRRPv3 instance per node namespace with unicast peers and one VIP, and the lab's HTTP
 * server running on every node all the time (keepalived moves the address, not the service, as
 * its users run it; the server listens on 0.0.0.0 so it answers whenever the VIP is local).
 *
 * Every node has `state BACKUP`, its own priority (node 1 200, node 2 150, node 3 100) and
 * `nopreempt`: a node that comes back does not take the VIP back, like sanode's stickiness.
 * Distinct priorities, as keepalived's users are told to set: with equal ones both survivors time
 * out at the same moment, both announce the VIP, the one with the lower address yields, and a
 * client whose ARP entry points at it waits for the winner's second burst of gratuitous ARP
 * (vrrp_garp_master_delay, 5 s); seen in a first smoke run here. keepalived runs as `keepalived -n -l -G -P` (no daemon, log to its
 * stdout, no syslog, VRRP only) with its pid files and configuration in the lab directory; it is
 * a parent and a VRRP child process, both in the node's namespace, both found and ended by PID.
 */
import { type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from './netns.js';
import { HTTP_PORT, NODE_IDS, SUBNET, VIP, nodeAddress, nodeName, type HaLab } from './ha-lab.js';

const nowMs = (): number => performance.timeOrigin + performance.now();
const alive = (child: ChildProcessWithoutNullStreams | undefined): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
export const KEEPALIVED_PATHS = ['/usr/sbin/keepalived', '/sbin/keepalived'];
const VIRTUAL_ROUTER_ID = 51;
/** Node 1 200, node 2 150, node 3 100. */
export const priorityOf = (id: number): number => 250 - 50 * id;

/** Why keepalived cannot run here (not installed), or undefined. */
export async function keepalivedUnavailable(): Promise<string | undefined> {
  for (const path of KEEPALIVED_PATHS) {
    try {
      await run(path, ['--version']);
      return undefined;
    } catch {
      // next
    }
  }
  return 'keepalived is not installed (Debian: apt-get install keepalived)';
}

/** One node's configuration: VRRPv3, unicast to the other two, one VIP on the lab's interface. */
export function keepalivedConf(id: number, nic: string, advertInt: number): string {
  const peers = NODE_IDS.filter((n) => n !== id).map((n) => `    ${nodeAddress(n)}`);
  return [
    'global_defs {',
    `  router_id ${nodeName(id)}`,
    '  vrrp_version 3',
    '}',
    'vrrp_instance web {',
    '  state BACKUP',
    `  interface ${nic}`,
    `  virtual_router_id ${VIRTUAL_ROUTER_ID}`,
    `  priority ${priorityOf(id)}`,
    '  nopreempt',
    `  advert_int ${advertInt}`,
    `  unicast_src_ip ${nodeAddress(id)}`,
    '  unicast_peer {',
    ...peers,
    '  }',
    '  virtual_ipaddress {',
    `    ${VIP}/24 dev ${nic}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export class KeepalivedCluster {
  private readonly daemons = new Map<number, ChildProcessWithoutNullStreams>();
  private readonly servers = new Map<number, ChildProcessWithoutNullStreams>();
  private binary = KEEPALIVED_PATHS[0]!;

  constructor(
    readonly lab: HaLab,
    readonly advertInt: number,
  ) {}

  async init(): Promise<void> {
    for (const path of KEEPALIVED_PATHS) {
      if (await run(path, ['--version']).then(() => true, () => false)) {
        this.binary = path;
        break;
      }
    }
  }

  private file(id: number, what: string): string {
    return join(this.lab.dir, `keepalived-${this.advertInt}-${id}.${what}`);
  }

  /** The HTTP server (always) and keepalived on node `id`. */
  start(id: number): void {
    const ns = this.lab.namespaces.get(id)!;
    if (!alive(this.servers.get(id))) {
      const server = this.lab.netns.spawn(ns, [process.execPath, this.lab.serverPath, '0.0.0.0', String(HTTP_PORT), SUBNET, nodeName(id)]);
      server.stderr.on('data', (chunk: Buffer) => appendFileSync(this.file(id, 'server.stderr'), chunk));
      this.servers.set(id, server);
    }
    writeFileSync(this.file(id, 'conf'), keepalivedConf(id, this.lab.nic, this.advertInt));
    // A killed daemon's pid files name processes that may linger as zombies (the container's
    // init reaps slowly), and keepalived then refuses to start as "already running"; a reboot
    // would have emptied /run.
    for (const what of ['pid', 'vrrp.pid', 'checkers.pid']) rmSync(this.file(id, what), { force: true });
    const argv = [
      this.binary,
      '--dont-fork',
      '--log-console',
      '--no-syslog',
      '--vrrp',
      `--use-file=${this.file(id, 'conf')}`,
      `--pid=${this.file(id, 'pid')}`,
      `--vrrp_pid=${this.file(id, 'vrrp.pid')}`,
      `--checkers_pid=${this.file(id, 'checkers.pid')}`,
    ];
    const child = this.lab.netns.spawn(ns, argv);
    const log = (chunk: Buffer): void => appendFileSync(this.file(id, 'log'), chunk);
    child.stdout.on('data', log);
    child.stderr.on('data', log);
    child.once('exit', (code, signal) => this.lab.log(`keepalived ${this.advertInt} node ${id}: pid ${child.pid} exited (${signal ?? code})`));
    this.daemons.set(id, child);
    this.lab.log(`keepalived ${this.advertInt} node ${id}: started pid ${child.pid}`);
  }

  startAll(): void {
    for (const id of NODE_IDS) this.start(id);
  }

  running(id: number): boolean {
    return alive(this.daemons.get(id));
  }

  /** keepalived's processes in node `id`'s namespace: its parent first, then its VRRP child. */
  async pids(id: number): Promise<number[]> {
    const parent = this.daemons.get(id)?.pid;
    const all = (await this.lab.namespacePids(id)).filter((pid) => this.lab.argv(pid)[0] === this.binary);
    return [...all.filter((p) => p === parent), ...all.filter((p) => p !== parent)];
  }

  private signal(pids: readonly number[], signal: NodeJS.Signals): void {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  }

  /**
   * kill -9 of keepalived on node `id` (its VIP and the server stay, as after a real kill -9).
   * The parent is stopped first: it would respawn a killed child, and a killed parent's child
   * shuts down cleanly (releasing the VIP), which is a graceful stop, not a crash.
   */
  async crash(id: number): Promise<number> {
    const pids = await this.pids(id);
    const at = nowMs();
    this.signal(pids.slice(0, 1), 'SIGSTOP');
    this.signal(pids.slice(1), 'SIGKILL');
    this.signal(pids.slice(0, 1), 'SIGKILL');
    this.lab.log(`keepalived node ${id}: kill -9 ${pids.join(',')}`);
    return at;
  }

  /** SIGSTOP of both keepalived processes on node `id`. Returns the time just before. */
  async freeze(id: number): Promise<number> {
    const pids = await this.pids(id);
    const at = nowMs();
    this.signal(pids, 'SIGSTOP');
    this.lab.log(`keepalived node ${id}: SIGSTOP ${pids.join(',')}`);
    return at;
  }

  async thaw(id: number): Promise<number> {
    const pids = await this.pids(id);
    const at = nowMs();
    this.signal([...pids].reverse(), 'SIGCONT');
    this.lab.log(`keepalived node ${id}: SIGCONT ${pids.join(',')}`);
    return at;
  }

  /**
   * A clean stop (SIGTERM, as `systemctl stop keepalived`): the master sends a priority-0
   * advertisement and removes its VIP, so a backup takes over after its skew time rather than
   * three advertisement intervals. Waits (bounded) for the process to exit.
   */
  async stopClean(id: number, timeoutMs: number): Promise<number> {
    const at = nowMs();
    this.signal((await this.pids(id)).slice(0, 1), 'SIGTERM');
    this.lab.log(`keepalived node ${id}: SIGTERM`);
    await this.lab.waitUntil(`keepalived on node ${id} to exit`, () => !this.running(id), timeoutMs);
    return at;
  }

  /**
   * As a host reboot: ends whatever runs in node `id`'s namespace (keepalived, the server) by
   * PID, removes the VIP (a reboot loses addresses), then starts the server and keepalived.
   */
  async reboot(id: number): Promise<void> {
    this.signal(await this.pids(id), 'SIGKILL');
    await this.lab.waitUntil(`keepalived on node ${id} gone`, () => !this.running(id), 10_000);
    const server = this.servers.get(id);
    if (server?.pid !== undefined) this.signal([server.pid], 'SIGKILL');
    await this.lab.waitUntil(`the server on node ${id} gone`, () => !alive(server), 10_000);
    await run('ip', ['-n', this.lab.namespaces.get(id)!, 'addr', 'del', `${VIP}/24`, 'dev', this.lab.nic]).catch(() => undefined);
    this.start(id);
  }

  /** Ends keepalived and the servers on every node (by PID) and removes the VIP everywhere. */
  async stop(): Promise<void> {
    for (const id of NODE_IDS) {
      this.signal(await this.pids(id), 'SIGKILL');
      const server = this.servers.get(id)?.pid;
      if (server !== undefined) this.signal([server], 'SIGKILL');
    }
    await this.lab
      .waitUntil('keepalived and its servers gone', () => NODE_IDS.every((id) => !this.running(id) && !alive(this.servers.get(id))), 10_000)
      .catch(() => undefined);
    await this.lab.resetNodes();
  }
}
