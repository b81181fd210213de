/**
 * The admin socket on a node (sidecar or embedded): a Unix socket speaking lib/admin/protocol.ts,
 * answering from the Cluster's public API only.
 *
 * Access is the socket file's: the admin socket is created 0600 by default (only its owner, root
 * for a system service, may connect), and an optional second socket answers read-only commands
 * and refuses every change with SANODE_ADMIN_DENIED, so status can be opened to a group or to
 * everyone without opening control.
 *
 * Takes: a joined Cluster and AdminOptions. Emits: responses, watch events, and a 'sanode:admin'
 * diagnostics message per command. Never: blocks the node (every command is a promise; a slow
 * client only slows its own connection) or accepts a line over MAX_LINE_BYTES.
 */
import { chmodSync, chownSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI_BAN_PREFIX, CLI_PREFER_PREFIX, type ClusterProperties } from '../cib/model.js';
import { SanodeError, isSanodeError } from '../errors/index.js';
import { CHANNELS, publish } from '../diagnostics.js';
import type { Cluster } from '../runtime/cluster.js';
import type { AlertFailure } from '../alerts/index.js';
import type { AdminOptions } from '../runtime/options.js';
import { cibConfigSchema, parseConfig, RELOADABLE_CIB_KEYS } from '../config/schema.js';
import { configWarnings, planApply, type ResourcePart } from './config-apply.js';
import { ADMIN_PROTOCOL_VERSION, isCommand, isReadCommand, type AdminCommand, type AdminRequest } from './protocol.js';
import { buildStatusReport, isFailure, type FailureRecord, type StatusReport } from './report.js';

/** A whole CIB fits many times over; a line longer than this is a broken or hostile client. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Failures kept for `status` (like crm_mon's failed actions); older ones drop off. */
const MAX_FAILURES = 50;
const DEFAULT_RESTART_TIMEOUT_MS = 60_000;

/** root: /run/sanode/admin.sock (like /run/crm's sockets); others: their runtime directory. */
export function defaultAdminSocket(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): string {
  if (uid === 0) return '/run/sanode/admin.sock';
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'sanode', 'admin.sock');
  return join(tmpdir(), `sanode-${uid ?? 'user'}`, 'admin.sock');
}

export interface AdminServerHooks {
  /** What `sanode leave` does; default: cluster.leave(). The sidecar exits after it. */
  onLeave?: () => Promise<void> | void;
  /** Alerts that failed after their retries, for status. */
  alertFailures?: () => AlertFailure[];
}

const PROPERTY_TYPES: Record<keyof ClusterProperties, 'boolean' | readonly string[]> = {
  noQuorumPolicy: ['stop', 'freeze', 'ignore', 'demote'],
  maintenanceMode: 'boolean',
  stonithEnabled: 'boolean',
  symmetricCluster: 'boolean',
};

function argString(args: Record<string, unknown> | undefined, name: string, required = true): string | undefined {
  const value = args?.[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new SanodeError('SANODE_ADMIN_PROTOCOL', `argument '${name}' must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/** Refuses a path where something still answers, removes one nobody answers on (a crashed node's). */
async function claimSocketPath(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new SanodeError('SANODE_ADMIN_UNAVAILABLE', `another process answers on the admin socket ${path}; give this node its own admin.socket`, { field: 'admin.socket' });
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

export class AdminServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Socket>();
  private readonly failures: FailureRecord[] = [];
  private readonly stopListening: () => void;
  private readonly paths: string[] = [];

  private constructor(
    private readonly cluster: Cluster,
    private readonly hooks: AdminServerHooks,
  ) {
    const onResource = (e: { rsc: string; node: string; op: string; intervalMs: number; rc: number; message?: string }) => {
      if (!isFailure(e)) return;
      this.failures.push({ rsc: e.rsc, node: e.node, op: e.op, intervalMs: e.intervalMs, rc: e.rc, ...(e.message === undefined ? {} : { message: e.message }), at: new Date().toISOString() });
      if (this.failures.length > MAX_FAILURES) this.failures.shift();
    };
    cluster.on('resource', onResource);
    this.stopListening = () => cluster.off('resource', onResource);
  }

  static async start(cluster: Cluster, options: AdminOptions, hooks: AdminServerHooks = {}): Promise<AdminServer> {
    const server = new AdminServer(cluster, hooks);
    try {
      await server.listen(options.socket ?? defaultAdminSocket(), options.mode ?? 0o600, options.gid, false);
      if (options.readOnlySocket !== undefined) await server.listen(options.readOnlySocket, options.readOnlyMode ?? 0o666, options.gid, true);
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  get socketPaths(): readonly string[] {
    return this.paths;
  }

  private async listen(path: string, mode: number, gid: number | undefined, readOnly: boolean): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    await claimSocketPath(path);
    const server = createServer((socket) => this.serve(socket, readOnly));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new SanodeError('SANODE_ADMIN_UNAVAILABLE', `cannot listen on the admin socket ${path}: ${error.code ?? error.message}`, { field: 'admin.socket', cause: error })),
      );
      server.listen(path, () => resolve());
    });
    this.servers.push(server);
    this.paths.push(path);
    // The socket is born with the process umask's mode (0755 under the usual 022: nobody else may
    // connect, since connecting needs write permission); the configured mode follows at once.
    chmodSync(path, mode);
    if (gid !== undefined) chownSync(path, process.getuid?.() ?? 0, gid);
    // The node must be able to exit without closing the admin socket first.
    server.unref();
  }

  private serve(socket: Socket, readOnly: boolean): void {
    this.connections.add(socket);
    socket.unref();
    let buffer = '';
    const unwatch: (() => void)[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE_BYTES) {
        socket.destroy();
        return;
      }
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.trim() !== '') void this.handleLine(socket, line, readOnly, unwatch);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.connections.delete(socket);
      for (const u of unwatch) u();
    });
  }

  private send(socket: Socket, message: unknown): void {
    if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
  }

  private async handleLine(socket: Socket, line: string, readOnly: boolean, unwatch: (() => void)[]): Promise<void> {
    let request: AdminRequest;
    try {
      request = JSON.parse(line) as AdminRequest;
    } catch {
      this.send(socket, { v: ADMIN_PROTOCOL_VERSION, id: null, ok: false, error: { code: 'SANODE_ADMIN_PROTOCOL', message: 'a request is one JSON object per line' } });
      return;
    }
    const id = typeof request?.id === 'number' ? request.id : null;
    const fail = (code: string, message: string) => this.send(socket, { v: ADMIN_PROTOCOL_VERSION, id, ok: false, error: { code, message } });
    if (request?.v !== ADMIN_PROTOCOL_VERSION) return fail('SANODE_ADMIN_PROTOCOL', `protocol version ${JSON.stringify(request?.v)} is not spoken here (this node speaks ${ADMIN_PROTOCOL_VERSION}); use a sanode command of the same version`);
    if (!isCommand(request.cmd)) return fail('SANODE_ADMIN_PROTOCOL', `unknown command ${JSON.stringify(request.cmd)}`);
    if (readOnly && !isReadCommand(request.cmd)) return fail('SANODE_ADMIN_DENIED', `'${request.cmd}' changes the cluster; this socket is read-only: use the admin socket (as root or its group)`);
    if (request.cmd === 'watch') {
      const push = () => this.send(socket, { v: ADMIN_PROTOCOL_VERSION, id, event: this.statusReport() });
      const events = ['view', 'quorum', 'leader', 'resource', 'cib'] as const;
      for (const e of events) this.cluster.on(e, push);
      unwatch.push(() => {
        for (const e of events) this.cluster.off(e, push);
      });
      push();
      return;
    }
    try {
      const result = await this.run(request.cmd, request.args);
      publish(CHANNELS.admin, this.cluster, { cmd: request.cmd, args: request.args, ok: true });
      this.send(socket, { v: ADMIN_PROTOCOL_VERSION, id, ok: true, result: result ?? null });
    } catch (error) {
      const code = isSanodeError(error) ? error.code : 'SANODE_ADMIN_FAILED';
      const message = error instanceof Error ? error.message : String(error);
      publish(CHANNELS.admin, this.cluster, { cmd: request.cmd, args: request.args, ok: false, code });
      fail(code, message);
    }
  }

  statusReport(): StatusReport {
    return buildStatusReport(this.cluster.status(), this.cluster.cib(), this.failures, this.hooks.alertFailures?.() ?? []);
  }

  private topLevel(rsc: string): void {
    if (!this.cluster.cib().cib.config.resources.some((r) => r.id === rsc)) {
      const known = this.cluster.cib().cib.config.resources.map((r) => r.id);
      throw new SanodeError('SANODE_UNKNOWN_RESOURCE', `no top-level resource '${rsc}' (resources: ${known.join(', ') || 'none'})`);
    }
  }

  private knownNode(node: string): string {
    const names = this.cluster.cib().cib.config.nodes.map((n) => n.name);
    if (!names.includes(node)) throw new SanodeError('SANODE_INVALID_CIB', `no node '${node}' (nodes: ${names.join(', ')})`);
    return node;
  }

  private async run(cmd: Exclude<AdminCommand, 'watch'>, args: Record<string, unknown> | undefined): Promise<unknown> {
    const c = this.cluster;
    switch (cmd) {
      case 'status':
        return this.statusReport();
      case 'resource.list':
        return c.cib().cib.config.resources;
      case 'resource.status': {
        const rsc = argString(args, 'rsc');
        const entry = this.statusReport().resources.filter((r) => r.id === rsc || r.parent === rsc);
        if (entry.length === 0) throw new SanodeError('SANODE_UNKNOWN_RESOURCE', `no resource '${rsc}'`);
        return entry;
      }
      case 'node.list':
        return this.statusReport().nodes;
      case 'config.show':
        // whole: config and status, as `sanode simulate --live` reads it.
        return args?.whole === true ? c.cib().cib : c.cib().cib.config;
      case 'property.list':
        return c.cib().cib.config.properties ?? {};
      case 'links':
        return c.status().links;
      case 'quorum': {
        const s = c.status();
        return { quorum: s.quorum, view: s.view === undefined ? undefined : { seq: s.view.id.seq, members: s.view.members } };
      }
      case 'members': {
        const s = c.status();
        return { view: s.view?.id.seq, members: s.view?.members ?? [], coordinator: s.coordinator, epoch: s.epoch };
      }
      case 'config.verify':
      case 'config.apply': {
        const part = parseResourcePart(args?.config);
        const plan = planApply(c.cib().cib.config, part);
        if (cmd === 'config.apply' && plan.diff.length > 0) await c.updateCib({ op: 'replace-config', config: plan.config });
        return { diff: plan.diff, warnings: plan.warnings, applied: cmd === 'config.apply' && plan.diff.length > 0 };
      }
      case 'property.set': {
        const name = argString(args, 'name') as keyof ClusterProperties;
        const type = PROPERTY_TYPES[name];
        if (type === undefined) throw new SanodeError('SANODE_INVALID_CIB', `unknown property '${name}' (properties: ${Object.keys(PROPERTY_TYPES).join(', ')})`);
        const raw = args?.value;
        let value: ClusterProperties[keyof ClusterProperties] | null;
        if (raw === null) value = null;
        else if (type === 'boolean') {
          if (raw !== 'true' && raw !== 'false' && typeof raw !== 'boolean') throw new SanodeError('SANODE_INVALID_CIB', `${name} is true or false, got ${JSON.stringify(raw)}`);
          value = raw === true || raw === 'true';
        } else {
          if (typeof raw !== 'string' || !type.includes(raw)) throw new SanodeError('SANODE_INVALID_CIB', `${name} is one of ${type.join(', ')}, got ${JSON.stringify(raw)}`);
          value = raw as ClusterProperties['noQuorumPolicy'] & string;
        }
        await c.updateCib({ op: 'set-property', name, value });
        return { name, value, warnings: name === 'noQuorumPolicy' ? configWarnings({ properties: { noQuorumPolicy: value as ClusterProperties['noQuorumPolicy'] } }) : [] };
      }
      case 'resource.start':
      case 'resource.stop': {
        const rsc = argString(args, 'rsc')!;
        this.topLevel(rsc);
        await (cmd === 'resource.start' ? c.startResource(rsc) : c.stopResource(rsc));
        return { rsc };
      }
      case 'resource.restart': {
        const rsc = argString(args, 'rsc')!;
        this.topLevel(rsc);
        await c.stopResource(rsc);
        const timeoutMs = args?.timeoutMs ?? DEFAULT_RESTART_TIMEOUT_MS;
        if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new SanodeError('SANODE_ADMIN_PROTOCOL', `argument 'timeoutMs' must be a positive number of milliseconds, got ${JSON.stringify(timeoutMs)}`);
        await this.waitUntil(() => this.statusReport().resources.every((r) => (r.id !== rsc && r.parent !== rsc) || r.running.length === 0), timeoutMs, `${rsc} to stop`);
        await c.startResource(rsc);
        return { rsc };
      }
      case 'resource.move': {
        const rsc = argString(args, 'rsc')!;
        await c.moveResource(rsc, this.knownNode(argString(args, 'node')!));
        return { rsc, constraint: `${CLI_PREFER_PREFIX}${rsc}` };
      }
      case 'resource.ban': {
        const rsc = argString(args, 'rsc')!;
        const node = this.knownNode(argString(args, 'node')!);
        await c.banResource(rsc, node);
        return { rsc, constraint: `${CLI_BAN_PREFIX}${rsc}-on-${node}` };
      }
      case 'resource.clear': {
        const rsc = argString(args, 'rsc')!;
        await c.clearResource(rsc);
        return { rsc };
      }
      case 'resource.cleanup': {
        const rsc = argString(args, 'rsc')!;
        const node = argString(args, 'node', false);
        await c.cleanup(rsc, node === undefined ? undefined : this.knownNode(node));
        for (let i = this.failures.length - 1; i >= 0; i -= 1) if (this.failures[i]!.rsc === rsc && (node === undefined || this.failures[i]!.node === node)) this.failures.splice(i, 1);
        return { rsc };
      }
      case 'node.standby':
      case 'node.online': {
        const node = this.knownNode(argString(args, 'node', false) ?? c.status().node.name);
        await c.standby(node, cmd === 'node.standby');
        return { node, standby: cmd === 'node.standby' };
      }
      case 'node.maintenance': {
        // Pacemaker's per-node maintenance: the node attribute `maintenance`, in the configuration
        // (pcs node maintenance); off removes it, as pcs node unmaintenance does.
        const node = this.knownNode(argString(args, 'node', false) ?? c.status().node.name);
        const on = args?.on;
        if (typeof on !== 'boolean') throw new SanodeError('SANODE_ADMIN_PROTOCOL', `argument 'on' must be true or false, got ${JSON.stringify(on)}`);
        await c.updateCib({ op: 'set-node-attribute', node, name: 'maintenance', value: on ? 'true' : null });
        const transient = c.cib().cib.status.nodes[node]?.attributes?.['maintenance'];
        return { node, maintenance: this.statusReport().nodes.find((n) => n.name === node)?.maintenance ?? on, ...(transient === undefined ? {} : { transient }) };
      }
      case 'leave':
        // Answer first: the node is gone once leave has finished.
        setImmediate(() => void Promise.resolve(this.hooks.onLeave?.() ?? c.leave()).catch(() => undefined));
        return { leaving: true };
    }
  }

  /** Re-checks on every CIB change, bounded by the timeout; never polls. */
  private waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new SanodeError('SANODE_ADMIN_FAILED', `gave up waiting for ${what} after ${timeoutMs} ms; see sanode status`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.cluster.off('cib', check);
      };
      this.cluster.on('cib', check);
    });
  }

  async close(): Promise<void> {
    this.stopListening();
    for (const socket of this.connections) socket.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const path of this.paths) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
}

/** The resource part of a configuration, checked with the file's own schema. */
export function parseResourcePart(value: unknown): ResourcePart {
  if (typeof value !== 'object' || value === null) throw new SanodeError('SANODE_ADMIN_PROTOCOL', 'config.apply needs args.config: { resources, constraints?, properties?, rscDefaults? }');
  const part: Record<string, unknown> = {};
  for (const key of RELOADABLE_CIB_KEYS) if ((value as Record<string, unknown>)[key] !== undefined) part[key] = (value as Record<string, unknown>)[key];
  const checked = parseConfig(cibConfigSchema, { nodes: [], resources: [], ...part }, 'cib');
  return { resources: checked.resources, constraints: checked.constraints, properties: checked.properties, rscDefaults: checked.rscDefaults } as ResourcePart;
}
