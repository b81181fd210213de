/**
 * Starts totem nodes as separate OS processes on loopback (127.0.0.x) and lets a test or a
 * benchmark talk to them. Every process it starts is tracked by PID and ended in `stop()`;
 * every wait is bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import type { TotemProcessConfig } from './totem-process.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'totem-process.js');

export interface ProcessEvent {
  ev: string;
  [key: string]: unknown;
}

export interface NodeProcess {
  id: number;
  child: ChildProcess;
  events: ProcessEvent[];
  exited: boolean;
}

export class ProcessCluster {
  readonly nodes = new Map<number, NodeProcess>();
  readonly stateRoot: string;
  private readonly nodeList: { id: number; addrs: string[] }[];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly size: number,
    readonly options: {
      profile?: 'lan' | 'fast' | 'wan';
      port?: number;
      secure?: boolean;
      addressBase?: number;
      /** Another fixture script (compiled .js path) and the per-node config it takes as argv[2]. */
      fixture?: string;
      configFor?: (id: number, common: { nodes: { id: number; addrs: string[] }[]; stateDir: string; key: string | undefined; port: number }) => object;
      /** How to start a node's process (e.g. inside a network namespace); default: a plain child. */
      spawnNode?: (id: number, argv: string[]) => ChildProcess;
      /** Node addresses; default 127.0.<base>.<id>. */
      addresses?: (id: number) => string;
    } = {},
  ) {
    this.stateRoot = mkdtempSync(join(tmpdir(), 'sanode-totem-'));
    // A distinct 127.0.x.y block per cluster keeps concurrent test files from hearing each other.
    const base = options.addressBase ?? 10 + (process.pid % 200);
    const address = options.addresses ?? ((id: number) => `127.0.${base}.${id}`);
    this.nodeList = Array.from({ length: size }, (_, i) => ({ id: i + 1, addrs: [address(i + 1)] }));
    this.key = options.secure === false ? undefined : randomBytes(32).toString('hex');
  }

  private readonly key: string | undefined;

  start(id: number): NodeProcess {
    const port = this.options.port ?? 5405;
    const stateDir = join(this.stateRoot, `node-${id}`);
    const config =
      this.options.configFor?.(id, { nodes: this.nodeList, stateDir, key: this.key, port }) ??
      ({
        nodeId: id,
        nodes: this.nodeList,
        port,
        stateDir,
        profile: this.options.profile ?? 'lan',
        ...(this.key === undefined ? {} : { key: this.key }),
      } satisfies TotemProcessConfig);
    const argv = [this.options.fixture ?? fixture, JSON.stringify(config)];
    const child = this.options.spawnNode?.(id, argv) ?? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    const node: NodeProcess = { id, child, events: [], exited: false };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        node.events.push(JSON.parse(line) as ProcessEvent);
      } catch {
        node.events.push({ ev: 'garbage', line });
      }
      this.wake();
    });
    child.on('exit', () => {
      node.exited = true;
      this.wake();
    });
    this.nodes.set(id, node);
    return node;
  }

  startAll(): void {
    for (const n of this.nodeList) this.start(n.id);
  }

  send(id: number, command: object): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.exited) throw new Error(`node ${id} is not running`);
    node.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): void {
    const node = this.nodes.get(id);
    if (node !== undefined && !node.exited && node.child.pid !== undefined) process.kill(node.child.pid, signal);
  }

  /** Resolves with the first event (searching from `fromIndex`) that matches, or rejects after timeoutMs. */
  async waitFor(id: number, match: (e: ProcessEvent) => boolean, timeoutMs: number, fromIndex = 0): Promise<ProcessEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const node = this.nodes.get(id);
      const found = node?.events.slice(fromIndex).find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`node ${id}: timed out after ${timeoutMs} ms waiting for an event`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 250));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** Waits until every listed node's latest view has exactly `members`. */
  async waitForView(ids: number[], members: number[], timeoutMs: number): Promise<Map<number, ProcessEvent>> {
    const want = JSON.stringify([...members].sort((a, b) => a - b));
    const deadline = Date.now() + timeoutMs;
    const latest = new Map<number, ProcessEvent>();
    for (;;) {
      let all = true;
      for (const id of ids) {
        const views = this.nodes.get(id)?.events.filter((e) => e.ev === 'view') ?? [];
        const last = views.at(-1);
        if (last === undefined || JSON.stringify(last.members) !== want) all = false;
        else latest.set(id, last);
      }
      if (all) return latest;
      if (Date.now() > deadline) {
        const seen = ids.map((id) => `${id}:${JSON.stringify(this.nodes.get(id)?.events.filter((e) => e.ev === 'view').at(-1)?.members)}`);
        throw new Error(`timed out after ${timeoutMs} ms waiting for view ${want}; latest views ${seen.join(' ')}`);
      }
      await this.nextEvent(250);
    }
  }

  async nextEvent(maxWaitMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, maxWaitMs);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** Ends every process this cluster started (by PID) and removes its state directory. */
  async stop(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (!node.exited && node.child.pid !== undefined) {
        try {
          process.kill(node.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    const deadline = Date.now() + 5000;
    while ([...this.nodes.values()].some((n) => !n.exited) && Date.now() < deadline) await this.nextEvent(50);
    rmSync(this.stateRoot, { recursive: true, force: true });
  }
}
