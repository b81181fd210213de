/**
 * Network namespaces for tests on real kernels: namespaces, veth pairs, bridges, addresses,
 * commands run inside a namespace, and a cleanup that removes everything a lab made.
 *
 * Rules this helper enforces, because tests run on developer machines and CI hosts:
 * - every namespace and interface name starts with the lab's prefix (`snt-` + a short suffix),
 *   and interface names fit the kernel's 15 characters;
 * - interfaces are created directly inside lab namespaces (`ip -n NS link add … netns OTHER`),
 *   never in the host's namespace, and addresses must be private (10/8, 172.16/12, 192.168/16,
 *   fd00::/8), so nothing a test sends can reach a real network;
 * - every command has a time limit, every wait is bounded;
 * - `cleanup()` kills only the processes this lab spawned, by PID, then deletes every namespace
 *   and host-side interface carrying the prefix, even after a failure half way through setup.
 *
 * Typical use:
 *   const reason = await netnsUnavailable();
 *   if (reason) return t.skip(reason);
 *   const lab = new NetnsLab();
 *   try { ... } finally { await lab.cleanup(); }
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

export const ROOT_SKIP_REASON = 'requires root: creates network namespaces';
export const NAME_PREFIX = 'snt-';
/** Linux IFNAMSIZ minus the terminating NUL. */
export const MAX_IFNAME_CHARS = 15;
const COMMAND_TIMEOUT_MS = 10_000;

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command with a time limit; rejects with its stderr on a non-zero exit. */
export function run(command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * Why namespace tests cannot run here, or undefined when they can. Not being root is the common
 * reason; a container without CAP_SYS_ADMIN or without iproute2 is the other.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'requires Linux network namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return ROOT_SKIP_REASON;
  const probe = `${NAME_PREFIX}p${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (error) {
    return `cannot create network namespaces here (${(error as Error).message})`;
  }
  await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  return undefined;
}

/** True for the private ranges a lab may use, so a typo cannot aim a test at a real host. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  return family === 6 && /^fd[0-9a-f]{2}:/i.test(address);
}

export class NetnsLab {
  /** `snt-` + 5 characters: room for a 6-character suffix in a 15-character interface name. */
  readonly prefix: string;
  readonly #namespaces = new Set<string>();
  readonly #children = new Set<ChildProcessWithoutNullStreams>();

  constructor(prefix?: string) {
    this.prefix = prefix ?? `${NAME_PREFIX}${(process.pid % 1296).toString(36).padStart(2, '0')}${randomBytes(2).toString('hex').slice(0, 3)}`;
    if (!this.prefix.startsWith(NAME_PREFIX)) throw new Error(`lab prefix must start with ${NAME_PREFIX}, got ${this.prefix}`);
  }

  /** A name carrying the prefix; throws if it would not fit an interface name. */
  name(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    if (name.length > MAX_IFNAME_CHARS) throw new Error(`${name} is longer than ${MAX_IFNAME_CHARS} characters`);
    return name;
  }

  /** Creates a namespace named prefix+suffix with its loopback up; returns the full name. */
  async addNamespace(suffix: string): Promise<string> {
    const ns = this.name(suffix);
    this.#namespaces.add(ns);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair with one end in each namespace, both ends up. Never touches the host namespace. */
  async addVeth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    for (const name of [nsA, ifA, nsB, ifB]) this.#checkOwned(name);
    await run('ip', ['-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await this.setLink(nsA, ifA, 'up');
    await this.setLink(nsB, ifB, 'up');
  }

  /** A bridge inside `ns`. Multicast snooping is off so a group floods without an IGMP querier. */
  async addBridge(ns: string, bridge: string): Promise<void> {
    this.#checkOwned(ns);
    this.#checkOwned(bridge);
    await run('ip', ['-n', ns, 'link', 'add', bridge, 'type', 'bridge', 'mcast_snooping', '0']);
    await this.setLink(ns, bridge, 'up');
  }

  async attach(ns: string, ifname: string, bridge: string): Promise<void> {
    this.#checkOwned(ifname);
    this.#checkOwned(bridge);
    await run('ip', ['-n', ns, 'link', 'set', ifname, 'master', bridge]);
  }

  /** Adds `cidr` (private ranges only) to an interface of a lab namespace. */
  async addAddress(ns: string, ifname: string, cidr: string): Promise<void> {
    this.#checkOwned(ns);
    this.#checkOwned(ifname);
    const [address] = cidr.split('/');
    if (!isPrivateAddress(address ?? '')) throw new Error(`${cidr} is not a private address; labs use 10/8, 172.16/12, 192.168/16 or fd00::/8`);
    const args = ['-n', ns, 'addr', 'add', cidr, 'dev', ifname];
    // No duplicate address detection: the address must be usable at once, and a lab has no
    // duplicates to detect.
    if (isIP(address ?? '') === 6) args.push('nodad');
    await run('ip', args);
  }

  async setLink(ns: string, ifname: string, state: 'up' | 'down'): Promise<void> {
    this.#checkOwned(ns);
    await run('ip', ['-n', ns, 'link', 'set', ifname, state]);
  }

  /** Runs a command inside a lab namespace, with a time limit. */
  async exec(ns: string, argv: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    this.#checkOwned(ns);
    return run('ip', ['netns', 'exec', ns, ...argv], timeoutMs);
  }

  /**
   * Starts a long-running process inside a lab namespace. `ip netns exec` execs the command in
   * place, so the PID is the command's own and cleanup can kill exactly it.
   */
  spawn(ns: string, argv: readonly string[]): ChildProcessWithoutNullStreams {
    this.#checkOwned(ns);
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /**
   * Kills this lab's children (SIGTERM, then SIGKILL after a bounded wait), then removes every
   * namespace and host interface with the prefix. Safe to call twice and after a failed setup.
   */
  async cleanup(): Promise<void> {
    const children = [...this.#children];
    for (const child of children) signal(child, 'SIGTERM');
    await Promise.all(children.map((child) => exited(child, 2000)));
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) signal(child, 'SIGKILL');
    }
    await Promise.all(children.map((child) => exited(child, 2000)));
    await cleanupAllWithPrefix(this.prefix);
    this.#namespaces.clear();
  }

  #checkOwned(name: string): void {
    if (!name.startsWith(this.prefix)) throw new Error(`${name} does not carry this lab's prefix ${this.prefix}`);
  }
}

/**
 * Deletes every namespace and host-namespace interface whose name starts with `prefix` (which
 * must itself start with `snt-`). Deleting a namespace deletes the interfaces inside it; a veth
 * end left in the host namespace is deleted by name.
 */
export async function cleanupAllWithPrefix(prefix: string): Promise<void> {
  if (!prefix.startsWith(NAME_PREFIX) || prefix.length <= NAME_PREFIX.length) {
    throw new Error(`refusing to clean up with prefix ${JSON.stringify(prefix)}: it must be ${NAME_PREFIX} plus a suffix`);
  }
  const namespaces = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
  for (const ns of namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(prefix));
  for (const link of links) await run('ip', ['link', 'del', link]).catch(() => undefined);
}

function signal(child: ChildProcessWithoutNullStreams, name: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // Already gone.
  }
}

function exited(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Reads newline-delimited JSON from a child's stdout and lets a test wait, bounded, for a line
 * matching a predicate. Lines seen before the wait began count too.
 */
export class JsonLines<T = Record<string, unknown>> {
  readonly lines: T[] = [];
  readonly #waiters = new Set<() => void>();
  #buffer = '';
  #ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let newline: number;
      while ((newline = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, newline).trim();
        this.#buffer = this.#buffer.slice(newline + 1);
        if (line === '') continue;
        try {
          this.lines.push(JSON.parse(line) as T);
        } catch {
          // A stray non-JSON line (a warning) is not a protocol message.
        }
      }
      for (const wake of this.#waiters) wake();
    });
    stream.on('end', () => {
      this.#ended = true;
      for (const wake of this.#waiters) wake();
    });
  }

  /** Resolves with the first line (from index `from`) matching, or rejects after `timeoutMs`. */
  waitFor(what: string, predicate: (line: T) => boolean, timeoutMs: number, from = 0): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.slice(from).find(predicate);
        if (found !== undefined) {
          done();
          resolve(found);
          return true;
        }
        if (this.#ended) {
          done();
          reject(new Error(`stream ended before ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      const wake = (): void => void check();
      if (!check()) this.#waiters.add(wake);
    });
  }
}
