/**
 * `vip`: a virtual IP address, the job of ocf:heartbeat:IPaddr2, held as a kernel lease.
 *
 * start adds the address with `ip addr add … valid_lft L preferred_lft L` and announces it
 * (gratuitous ARP for IPv4, an unsolicited neighbour advertisement for IPv6); monitor checks it is
 * there on a link that is up and renews the lease; stop deletes it. Because the lifetime is kept
 * by the kernel, a holder that is cut off and whose process hangs, is frozen or is `kill -9`ed
 * still loses the address at most L seconds after its last renewal: nothing in user space has to
 * run for the address to go. docs/agents.md has the whole argument and its limits.
 *
 * Commands run through a `CommandRunner`; the `netns` param (or a runner given to the factory)
 * runs them inside a network namespace, which is how the tests keep every address off the host.
 */
import { isIP } from 'node:net';
import { commandExists, netnsRunner, runCommand, type CommandResult, type CommandRunner } from './command.js';
import { AgentError, OCF, type AgentContext, type ResourceAgent } from './types.js';
import { guardTableName, installScript, NftRenewer, nftMissing, removeScript, unsupported, type NftGuard } from './vip-nft.js';

export interface VipParams {
  /** The address, IPv4 or IPv6, optionally with its prefix (`10.0.0.100/24`). */
  ip?: string;
  /** Prefix length; default: the prefix in `ip`, else that of the connected subnet holding it. */
  cidrNetmask?: number | string;
  /** Interface; default: the one whose connected subnet (address or route) contains `ip`. */
  nic?: string;
  /** IPv4 label (`eth0:vip`); must be the nic's name or start with `nic:`. Ignored for IPv6. */
  label?: string;
  /**
   * Seconds the kernel keeps the address without a renewal (monitor renews it). 0 or 'forever'
   * turns the lease off. Keep it a few times the monitor interval: a renewal missed by one late
   * monitor must not drop a healthy VIP.
   */
  leaseSeconds?: number | string;
  /**
   * Milliseconds of the nftables lease (agents/vip-nft.ts): traffic to and announcements of the
   * VIP are dropped unless a set element renewed every leaseMs / 4 is live. 0 or 'off' leaves
   * only the valid_lft lease.
   */
  leaseMs?: number | string;
  /** 'auto' (gratuitous ARP / unsolicited NA) or 'none'. */
  announce?: string;
  /** How many announcements start sends (iputils arping waits a second after each one). */
  arpCount?: number | string;
  /** Run every command inside this network namespace (`ip netns exec`). */
  netns?: string;
}

export interface VipOptions {
  /** Runs the commands; default `runCommand`, or `netnsRunner(netns)` when the param is set. */
  runner?: CommandRunner;
  /** Where `send_ua` (resource-agents) lives; default the Debian paths. */
  sendUaPath?: string;
  /** Monotonic milliseconds; injectable so a test can play a stall between reading and renewing. */
  now?: () => number;
  /** Upper bound for any one command when the caller's signal never fires. */
  commandTimeoutMs?: number;
  /** The nft program (Debian package nftables); default `nft` on PATH. */
  nftPath?: string;
  /**
   * Until when (on `now`'s clock) this node's resource lease holds: nft leases are renewed only
   * before it (the runtime passes the node driver's lease). Default: no such gate.
   */
  leaseUntil?: () => number;
}

/** The vip agent, plus the hook the runtime calls when its node's resource lease is gone. */
export interface VipAgent extends ResourceAgent<VipParams> {
  /**
   * Stops every nft lease renewal of this agent at once: the node lost quorum or its lease
   * (SANODE_SELF_STOP), so the VIPs must go dark within leaseMs whatever stop later does.
   */
  haltLeases(reason: string): void;
  /** The renewer of a started VIP (tests and the benchmark read its state). */
  renewerFor(params: VipParams): NftRenewer | undefined;
}

export const DEFAULT_LEASE_SECONDS = 30;
/**
 * The nft lease is opt-in for now: it needs nftables on every node, and its renewals cost more
 * CPU than they should (docs/benchmarks.md). This is the length the docs recommend, and the
 * guard assumed when cleaning up a table left from an earlier configuration.
 */
export const RECOMMENDED_LEASE_MS = 400;
const MIN_LEASE_MS = 40;
const MAX_LEASE_MS = 600_000;
/**
 * Added to the nft lease bound for the kernel's clock: element timeouts are kept in jiffies
 * (4 ms at HZ=250), rounded up when set and compared at lookup, so an element can outlive its
 * timeout by up to two jiffies; 25 ms covers HZ down to 100 with room (docs/benchmarks.md).
 */
export const NFT_SLACK_MS = 25;
/** How long start waits for nft to install the guard and confirm it. */
const NFT_INSTALL_TIMEOUT_MS = 10_000;
export const DEFAULT_ARP_COUNT = 2;
/** start waits this long for the announcement tool to fail before returning with it still running. */
const ANNOUNCE_GRACE_MS = 150;
/** Where Debian's resource-agents has put send_ua (bookworm, then older releases). */
const SEND_UA_PATHS = ['/usr/libexec/heartbeat/send_ua', '/usr/lib/heartbeat/send_ua'];
const SEND_UA_INTERVAL_MS = 200;
/** What the kernel reports for an address without a lifetime. */
const FOREVER = 4294967295;
/**
 * Room left for the renewing `ip` process to start and reach the kernel. A renewal that could
 * land after the lease ran out would re-create the address (see renew), so it is not sent.
 */
const RENEW_MARGIN_MS = 250;
const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
const IFNAME_MAX = 15;

interface VipConfig {
  address: string;
  family: 4 | 6;
  prefix: number | undefined;
  nic: string | undefined;
  label: string | undefined;
  leaseSeconds: number | undefined;
  leaseMs: number | undefined;
  announce: boolean;
  arpCount: number;
  netns: string | undefined;
}

interface AddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  label?: string;
  valid_life_time?: number;
  dadfailed?: boolean;
  tentative?: boolean;
}
interface LinkInfo {
  ifname: string;
  flags?: string[];
  operstate?: string;
  addr_info?: AddrInfo[];
}
interface Holding {
  link: LinkInfo;
  addr: AddrInfo;
}

type ArpingFlavour = 'iputils' | 'habets';

export function vip(defaults: VipParams = {}, options: VipOptions = {}): VipAgent {
  const now = options.now ?? (() => performance.now());
  const nftPath = options.nftPath ?? 'nft';
  // Per agent instance: one renewer (one `nft -i` child) per started VIP, by namespace and address.
  const renewers = new Map<string, NftRenewer>();
  const renewerKey = (config: VipConfig): string => `${config.netns ?? ''}|${toBigInt(config.address).toString(16)}|${config.family}`;
  const guardOf = (config: VipConfig): { guard: NftGuard; table: string; value: bigint } | undefined => {
    if (config.leaseMs === undefined) return undefined;
    const value = toBigInt(config.address);
    return { guard: { address: config.address, family: config.family, leaseMs: config.leaseMs }, table: guardTableName(config.address, config.family, value), value };
  };
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  // Per agent instance, not per module: several clusters (or namespaces) may live in one process.
  let arpingFlavour: ArpingFlavour | undefined;

  const session = (context: AgentContext<VipParams>) => {
    const config = parseParams({ ...defaults, ...context.params });
    const runner = options.runner ?? (config.netns ? netnsRunner(config.netns) : runCommand);
    const run = async (file: string, args: string[]): Promise<CommandResult> => {
      const result = await runner(file, args, { signal: context.signal, timeoutMs: commandTimeoutMs });
      if (result.aborted || result.timedOut) {
        throw new AgentError(OCF.ERR_GENERIC, `${file} ${args.join(' ')}: ${result.aborted ? 'aborted' : 'timed out'}`);
      }
      return result;
    };
    const ip = async (args: string[]): Promise<CommandResult> => {
      const result = await run('ip', args);
      if (result.code !== 0) throw new AgentError(OCF.ERR_GENERIC, `ip ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
      return result;
    };
    const links = async (): Promise<LinkInfo[]> => {
      const { stdout } = await ip(['-j', 'addr', 'show']);
      return JSON.parse(stdout || '[]') as LinkInfo[];
    };
    return { config, run, ip, links, runner, signal: context.signal };
  };
  type Session = ReturnType<typeof session>;

  /** Fills in nic, prefix and label from the system where the params left them out. */
  const resolve = async (s: Session): Promise<VipConfig & { nic: string; prefix: number }> => {
    const { config } = s;
    let { nic, prefix } = config;
    if (nic === undefined || prefix === undefined) {
      const found = await findConnected(s, config);
      if (!found) {
        throw new AgentError(
          OCF.ERR_CONFIGURED,
          `ip ${config.address}: no interface has a connected subnet containing it; set nic (and cidrNetmask)`,
        );
      }
      nic ??= found.nic;
      prefix ??= found.prefix;
    }
    return { ...config, nic, prefix, label: config.family === 4 ? labelFor(nic, config.label) : undefined };
  };

  const findConnected = async (s: Session, config: VipConfig): Promise<{ nic: string; prefix: number } | undefined> => {
    const target = toBigInt(config.address);
    let best: { nic: string; prefix: number } | undefined;
    for (const link of await s.links()) {
      if (config.nic !== undefined && link.ifname !== config.nic) continue;
      for (const addr of link.addr_info ?? []) {
        if (addr.local === undefined || addr.prefixlen === undefined) continue;
        if (familyOf(addr) !== config.family || sameAddress(addr.local, config.address)) continue;
        if (addr.prefixlen === 0 || (config.family === 6 && addr.local.toLowerCase().startsWith('fe80'))) continue;
        if (inSubnet(target, toBigInt(addr.local), addr.prefixlen, config.family) && (!best || addr.prefixlen > best.prefix)) {
          best = { nic: link.ifname, prefix: addr.prefixlen };
        }
      }
    }
    if (best) return best;
    // No address in the subnet here: a directly connected route (no gateway) still says which
    // link the subnet is on, as IPaddr2's findif does.
    const result = await s.run('ip', ['-j', `-${config.family}`, 'route', 'show', 'match', config.address]);
    if (result.code !== 0) return undefined;
    const routes = JSON.parse(result.stdout || '[]') as { dst?: string; dev?: string; gateway?: string }[];
    for (const route of routes) {
      if (!route.dev || route.gateway || !route.dst || route.dst === 'default' || route.dev === 'lo') continue;
      if (config.nic !== undefined && route.dev !== config.nic) continue;
      const routePrefix = Number(route.dst.split('/')[1] ?? (config.family === 4 ? 32 : 128));
      if (!best || routePrefix > best.prefix) best = { nic: route.dev, prefix: routePrefix };
    }
    return best;
  };

  const holdings = async (s: Session): Promise<Holding[]> => {
    const found: Holding[] = [];
    for (const link of await s.links()) {
      for (const addr of link.addr_info ?? []) {
        if (addr.local !== undefined && familyOf(addr) === s.config.family && sameAddress(addr.local, s.config.address)) {
          found.push({ link, addr });
        }
      }
    }
    return found;
  };

  const announce = async (s: Session, config: VipConfig & { nic: string; prefix: number }, link: LinkInfo | undefined): Promise<void> => {
    if (!config.announce) return;
    // Dummy and loopback links have no neighbours to tell (arping refuses them anyway).
    if (link?.flags?.includes('NOARP') || link?.flags?.includes('LOOPBACK')) return;
    if (config.family === 4) {
      const flavour = await detectArping(s);
      const count = String(config.arpCount);
      // iputils: -U sends unsolicited ARP requests from and for the address. Habets' arping
      // (Debian package `arping`) spells the interface -i and the source -S, and exits 1 when
      // nobody answers, which unsolicited ARP never expects.
      const args =
        flavour === 'iputils'
          ? ['-U', '-c', count, '-I', config.nic, config.address]
          : ['-U', '-c', count, '-i', config.nic, '-S', config.address, config.address];
      const result = await s.run('arping', args);
      if (result.code !== 0 && !(flavour === 'habets' && result.code === 1)) {
        throw new AgentError(OCF.ERR_GENERIC, `arping ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
      }
    } else {
      const sendUa = await findSendUa();
      if (!sendUa) throw new AgentError(OCF.ERR_INSTALLED, sendUaMissing());
      const args = ['-i', String(SEND_UA_INTERVAL_MS), '-c', String(config.arpCount), config.address, String(config.prefix), config.nic];
      const result = await s.run(sendUa, args);
      if (result.code !== 0) {
        throw new AgentError(OCF.ERR_GENERIC, `send_ua ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
      }
    }
  };

  const detectArping = async (s: Session): Promise<ArpingFlavour> => {
    if (arpingFlavour) return arpingFlavour;
    if (!(await commandExists('arping'))) throw new AgentError(OCF.ERR_INSTALLED, arpingMissing());
    const version = await s.run('arping', ['-V']);
    if (/iputils/i.test(version.stdout + version.stderr)) return (arpingFlavour = 'iputils');
    const help = await s.run('arping', ['--help']);
    if (/habets|ARPing 2\./i.test(help.stdout + help.stderr + version.stdout + version.stderr)) return (arpingFlavour = 'habets');
    throw new AgentError(OCF.ERR_INSTALLED, `arping is neither iputils' nor Habets' arping; ${arpingMissing()}`);
  };

  const findSendUa = async (): Promise<string | undefined> => {
    for (const path of options.sendUaPath ? [options.sendUaPath] : SEND_UA_PATHS) {
      if (await commandExists(path)) return path;
    }
    return undefined;
  };

  const lifetimeArgs = (config: VipConfig): string[] =>
    config.leaseSeconds === undefined
      ? []
      : ['valid_lft', String(config.leaseSeconds), 'preferred_lft', String(config.leaseSeconds)];

  const checkNft = async (): Promise<void> => {
    if (!(await commandExists(nftPath))) throw nftMissing(nftPath);
  };

  /**
   * Installs the guard (replacing a table a killed holder left) and starts its renewer; returns
   * once the kernel has accepted the rules with a live element.
   */
  const startGuard = async (config: VipConfig): Promise<void> => {
    const g = guardOf(config);
    if (!g) return;
    await checkNft();
    renewers.get(renewerKey(config))?.halt('started again');
    const argv = config.netns ? ['ip', 'netns', 'exec', config.netns, nftPath, '-e', '-i'] : [nftPath, '-e', '-i'];
    const renewer = new NftRenewer({ argv, guard: g.guard, table: g.table, value: g.value, now, install: installScript(g.guard, g.table, g.value), ...(options.leaseUntil === undefined ? {} : { leaseUntil: options.leaseUntil }) });
    renewers.set(renewerKey(config), renewer);
    try {
      await renewer.waitForAck(1, Math.min(commandTimeoutMs, NFT_INSTALL_TIMEOUT_MS));
    } catch (error) {
      renewer.halt('start failed');
      renewers.delete(renewerKey(config));
      const stderr = renewer.errors;
      throw unsupported(stderr, config.family) ?? new AgentError(OCF.ERR_GENERIC, `nft lease for ${config.address}: ${stderr.trim() || (error as Error).message}`);
    }
  };

  const stopGuard = async (s: Session): Promise<void> => {
    const key = renewerKey(s.config);
    renewers.get(key)?.halt('stopped');
    renewers.delete(key);
    const g = guardOf(s.config);
    // With leaseMs 0 a table may still be left from an earlier configuration; remove it when nft exists.
    const table = g?.table ?? guardTableName(s.config.address, s.config.family, toBigInt(s.config.address));
    // Without nft no guard can have been installed here: nothing to remove, and stop must succeed.
    if (!(await commandExists(nftPath))) return;
    const guard = g?.guard ?? { address: s.config.address, family: s.config.family, leaseMs: RECOMMENDED_LEASE_MS };
    const result = await s.runner(nftPath, ['-f', '-'], { signal: s.signal, timeoutMs: commandTimeoutMs, input: removeScript(guard, table) });
    if (result.aborted || result.timedOut || result.code !== 0) {
      throw new AgentError(OCF.ERR_GENERIC, `nft: removing table ${table} failed: ${result.stderr.trim() || (result.aborted ? 'aborted' : result.timedOut ? 'timed out' : `exit ${result.code}`)}`);
    }
  };

  const agent: VipAgent = {
    async validate(context) {
      const s = session(context);
      if (!(await commandExists('ip'))) throw new AgentError(OCF.ERR_INSTALLED, 'ip (Debian package iproute2) not found');
      if (s.config.nic !== undefined) {
        const result = await s.run('ip', ['-j', 'link', 'show', 'dev', s.config.nic]);
        // A nic missing here is a fact about this node, not about the configuration everywhere:
        // ERR_INSTALLED lets the cluster place the VIP on a node that has it.
        if (result.code !== 0) throw new AgentError(OCF.ERR_INSTALLED, `nic ${s.config.nic}: no such interface on this node`);
      }
      const config = await resolve(s);
      if (config.leaseMs !== undefined) await checkNft();
      if (config.announce) {
        if (config.family === 4) await detectArping(s);
        else if (!(await findSendUa())) throw new AgentError(OCF.ERR_INSTALLED, sendUaMissing());
      }
    },

    async start(context) {
      const s = session(context);
      const config = await resolve(s);
      const linkList = await s.links();
      const link = linkList.find((l) => l.ifname === config.nic);
      if (!link) throw new AgentError(OCF.ERR_INSTALLED, `nic ${config.nic}: no such interface on this node`);
      if (!linkUp(link)) throw new AgentError(OCF.ERR_GENERIC, `nic ${config.nic} is ${link.operstate ?? 'down'}; not adding ${config.address}`);
      const elsewhere = (await holdings(s)).filter((h) => h.link.ifname !== config.nic);
      if (elsewhere.length > 0) {
        throw new AgentError(OCF.ERR_GENERIC, `${config.address} is already on ${elsewhere.map((h) => h.link.ifname).join(', ')}, not ${config.nic}`);
      }
      // The guard first: the address must never be up without the rules that end it on time.
      await startGuard(config);
      const cidr = `${config.address}/${config.prefix}`;
      const present = (link.addr_info ?? []).find((a) => a.local !== undefined && familyOf(a) === config.family && sameAddress(a.local, config.address));
      if (present) {
        // Start on a running VIP succeeds (OCF); it refreshes the lease and announces again.
        await s.ip(['addr', 'change', `${config.address}/${present.prefixlen ?? config.prefix}`, 'dev', config.nic, ...lifetimeArgs(config)]);
      } else {
        const args = ['addr', 'add', cidr, 'dev', config.nic];
        if (config.label !== undefined) args.push('label', config.label);
        // Without nodad the address stays tentative (unusable) for the DAD time, and a failover
        // target must answer at once; the old holder is gone or fenced by then.
        if (config.family === 6) args.push('nodad');
        args.push(...lifetimeArgs(config));
        await s.ip(args);
      }
      // iputils arping sends its packet at once but lingers a second per count before it exits;
      // a failover must not wait for that. Failures to launch show within the grace; a late one
      // is only a missed announcement (the next start or the neighbours' own ARP recovers).
      const announcing = announce(s, config, link);
      const launched = await Promise.race([
        announcing.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), ANNOUNCE_GRACE_MS).unref()),
      ]);
      if (!launched) announcing.catch(() => undefined);
    },

    async monitor(context) {
      const s = session(context);
      const config = s.config;
      // Two tries: a renewal skipped because reading took too long gets one fresh reading.
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const readAt = now();
        const held = await holdings(s);
        if (held.length === 0) return 'not-running';
        const mine = config.nic === undefined ? held[0] : held.find((h) => h.link.ifname === config.nic);
        if (!mine) return 'failed';
        if (!linkUp(mine.link) || mine.addr.dadfailed) return 'failed';
        if (config.leaseMs !== undefined) {
          // Present but unguarded (the renewer lapsed, halted, or this process restarted): the
          // kernel drops its traffic, so it does not serve; stop and start again recover it.
          const renewer = renewers.get(renewerKey(config));
          if (renewer?.state !== 'renewing') return 'failed';
        }
        if (config.leaseSeconds === undefined) return 'running';
        const remaining = mine.addr.valid_life_time ?? FOREVER;
        // `ip addr change` re-creates an address that has expired (the kernel ignores the missing
        // NLM_F_CREATE for addresses), so a renewal sent after the lease ran out would bring back
        // a VIP another node may hold by now. Renew only while the lifetime just read still
        // covers the time since reading it; the kernel rounds the age down, so trust a second
        // less than it says.
        if (remaining !== FOREVER && now() + RENEW_MARGIN_MS >= readAt + (remaining - 1) * 1000) continue;
        const prefix = mine.addr.prefixlen ?? config.prefix ?? (config.family === 4 ? 32 : 128);
        await s.ip(['addr', 'change', `${config.address}/${prefix}`, 'dev', mine.link.ifname, ...lifetimeArgs(config)]);
        return 'running';
      }
      return (await holdings(s)).length === 0 ? 'not-running' : 'failed';
    },

    async stop(context) {
      const s = session(context);
      // Renewals end before anything else: from here the element runs out by itself.
      const key = renewerKey(s.config);
      renewers.get(key)?.halt('stopping');
      // Everywhere on this node, not only on the configured nic: after stop this node must not
      // answer for the address at all.
      for (const { link, addr } of await holdings(s)) {
        const prefix = addr.prefixlen ?? (s.config.family === 4 ? 32 : 128);
        const result = await s.run('ip', ['addr', 'del', `${s.config.address}/${prefix}`, 'dev', link.ifname]);
        // Gone between reading and deleting (a lease ran out): stopped is what we wanted.
        if (result.code !== 0 && !/Cannot assign requested address|No such|not found/i.test(result.stderr)) {
          throw new AgentError(OCF.ERR_GENERIC, `ip addr del ${s.config.address}/${prefix} dev ${link.ifname} failed: ${result.stderr.trim()}`);
        }
      }
      if ((await holdings(s)).length > 0) throw new AgentError(OCF.ERR_GENERIC, `${s.config.address} is still present after ip addr del`);
      // The rules go last: without them the address, were it still up, would answer again.
      await stopGuard(s);
    },

    haltLeases(reason) {
      for (const renewer of renewers.values()) renewer.halt(reason);
    },

    renewerFor(params) {
      try {
        return renewers.get(renewerKey(parseParams({ ...defaults, ...params })));
      } catch {
        return undefined;
      }
    },

    metaData() {
      return META_DATA;
    },

    // Renewals stop when the node's resource lease ends (or earlier, if it froze or died); the
    // kernel drops the address within its lease of the last one, whatever the node does then.
    holdoverMs(params) {
      let leaseSeconds: number | undefined;
      let leaseMs: number | undefined;
      try {
        ({ leaseSeconds, leaseMs } = parseParams({ ...defaults, ...params }));
      } catch {
        return undefined; // start refuses these parameters, so nothing can be held
      }
      // The nft lease, counted from the moment its node's resource lease ended: the last renewal's
      // element (leaseMs) and the one renewal that may be in flight, which the kernel accepts
      // only while the previous element lives (another leaseMs), plus the kernel's clock
      // granularity. Without the lease gate (options.leaseUntil) renewals stop only when the
      // node's self-stop halts them, and up to leaseMs / 2 of late ticks may still renew before
      // that (a later one counts as a stall and is refused). docs/agents.md has the argument.
      if (leaseMs !== undefined) return Math.ceil((options.leaseUntil === undefined ? 2.5 : 2) * leaseMs) + NFT_SLACK_MS;
      // No lease ('forever'): only the node's stop removes the address (and fencing a dead one).
      return leaseSeconds === undefined ? undefined : leaseSeconds * 1000 + 1000;
    },
  };
  return agent;
}

function parseParams(params: VipParams): VipConfig {
  const raw = (params.ip ?? '').trim();
  if (raw === '') throw new AgentError(OCF.ERR_CONFIGURED, 'ip: required (an IPv4 or IPv6 address, e.g. 10.0.0.100 or 10.0.0.100/24)');
  const [address = '', inlinePrefix, extra] = raw.split('/');
  const family = isIP(address);
  if ((family !== 4 && family !== 6) || extra !== undefined) {
    throw new AgentError(OCF.ERR_CONFIGURED, `ip: ${JSON.stringify(raw)} is not an IPv4 or IPv6 address (optionally /prefix)`);
  }
  const maxPrefix = family === 4 ? 32 : 128;
  let prefix: number | undefined;
  const prefixText = params.cidrNetmask !== undefined && params.cidrNetmask !== '' ? String(params.cidrNetmask) : inlinePrefix;
  if (prefixText !== undefined) {
    prefix = /^\d{1,3}$/.test(prefixText.trim()) ? Number(prefixText) : NaN;
    if (!(prefix >= 1 && prefix <= maxPrefix)) {
      throw new AgentError(OCF.ERR_CONFIGURED, `cidrNetmask: ${JSON.stringify(prefixText)} is not a prefix length from 1 to ${maxPrefix}`);
    }
  }
  const nic = params.nic === undefined || params.nic === '' ? undefined : params.nic;
  if (nic !== undefined && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(nic)) {
    throw new AgentError(OCF.ERR_CONFIGURED, `nic: ${JSON.stringify(nic)} is not an interface name`);
  }
  let leaseSeconds: number | undefined = DEFAULT_LEASE_SECONDS;
  if (params.leaseSeconds !== undefined && params.leaseSeconds !== '') {
    const text = String(params.leaseSeconds).trim();
    if (text === 'forever' || text === '0') leaseSeconds = undefined;
    else {
      leaseSeconds = /^\d+$/.test(text) ? Number(text) : NaN;
      // Below 2 s the kernel's whole-second rounding leaves no safe moment to renew (see monitor).
      if (!(leaseSeconds >= 2 && leaseSeconds < FOREVER)) {
        throw new AgentError(OCF.ERR_CONFIGURED, `leaseSeconds: ${JSON.stringify(text)} must be whole seconds >= 2, or 0/'forever' for no lease`);
      }
    }
  }
  let leaseMs: number | undefined;
  if (params.leaseMs !== undefined && params.leaseMs !== '') {
    const text = String(params.leaseMs).trim();
    if (text === 'off' || text === '0') leaseMs = undefined;
    else {
      leaseMs = /^\d+$/.test(text) ? Number(text) : NaN;
      // Below 40 ms the 10 ms renewal interval approaches the event loop's own jitter.
      if (!(leaseMs >= MIN_LEASE_MS && leaseMs <= MAX_LEASE_MS)) {
        throw new AgentError(OCF.ERR_CONFIGURED, `leaseMs: ${JSON.stringify(text)} must be whole milliseconds from ${MIN_LEASE_MS} to ${MAX_LEASE_MS}, or 0/'off' for no nft lease`);
      }
    }
  }
  const announceText = params.announce === undefined || params.announce === '' ? 'auto' : String(params.announce);
  if (announceText !== 'auto' && announceText !== 'none') {
    throw new AgentError(OCF.ERR_CONFIGURED, `announce: ${JSON.stringify(announceText)} must be 'auto' or 'none'`);
  }
  const countText = params.arpCount === undefined || params.arpCount === '' ? String(DEFAULT_ARP_COUNT) : String(params.arpCount).trim();
  const arpCount = /^\d{1,3}$/.test(countText) ? Number(countText) : NaN;
  if (!(arpCount >= 1 && arpCount <= 100)) throw new AgentError(OCF.ERR_CONFIGURED, `arpCount: ${JSON.stringify(countText)} must be 1 to 100`);
  const netns = params.netns === undefined || params.netns === '' ? undefined : params.netns;
  const label = params.label === undefined || params.label === '' ? undefined : params.label;
  return { address, family, prefix, nic, label, leaseSeconds, leaseMs, announce: announceText === 'auto', arpCount, netns };
}

/**
 * iproute2 insists an IPv4 label begins with the device name, and the kernel keeps at most 15
 * characters; the default `nic:vip` shrinks to `nic:v`, or to no label, to fit.
 */
function labelFor(nic: string, label: string | undefined): string | undefined {
  if (label !== undefined) {
    if ((label !== nic && !label.startsWith(`${nic}:`)) || label.length > IFNAME_MAX) {
      throw new AgentError(OCF.ERR_CONFIGURED, `label: ${JSON.stringify(label)} must be ${nic} or ${nic}:something, at most ${IFNAME_MAX} characters`);
    }
    return label;
  }
  for (const candidate of [`${nic}:vip`, `${nic}:v`]) if (candidate.length <= IFNAME_MAX) return candidate;
  return undefined;
}

function linkUp(link: LinkInfo): boolean {
  // A dummy or tun device reports UNKNOWN while working; DOWN or LOWERLAYERDOWN means no carrier.
  // NO-CARRIER is checked too because the kernel updates operstate up to a second later.
  const flags = link.flags ?? [];
  return flags.includes('UP') && !flags.includes('NO-CARRIER') && (link.operstate === 'UP' || link.operstate === 'UNKNOWN');
}

function familyOf(addr: AddrInfo): 4 | 6 | undefined {
  return addr.family === 'inet' ? 4 : addr.family === 'inet6' ? 6 : undefined;
}

function sameAddress(a: string, b: string): boolean {
  const fa = isIP(a);
  return fa !== 0 && fa === isIP(b) && toBigInt(a) === toBigInt(b);
}

function inSubnet(address: bigint, network: bigint, prefix: number, family: 4 | 6): boolean {
  const bits = BigInt(family === 4 ? 32 : 128);
  const shift = bits - BigInt(prefix);
  return address >> shift === network >> shift;
}

/** An IPv4 or IPv6 address (already checked by isIP) as an integer, so forms compare equal. */
export function toBigInt(address: string): bigint {
  if (isIP(address) === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  let text = address.toLowerCase().split('%')[0] ?? '';
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = toBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc: bigint, group: string) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function arpingMissing(): string {
  return 'arping not found: install Debian package iputils-arping (or arping)';
}
function sendUaMissing(): string {
  return 'send_ua (unsolicited IPv6 neighbour advertisements) not found: install Debian package resource-agents, or set announce to none';
}

const META_DATA = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="vip" version="1.0">
  <version>1.0</version>
  <longdesc lang="en">A virtual IP address held as a kernel lease (valid_lft), renewed by monitor and announced by gratuitous ARP or unsolicited neighbour advertisement.</longdesc>
  <shortdesc lang="en">Virtual IP address (kernel-leased)</shortdesc>
  <parameters>
    <parameter name="ip" unique="1" required="1"><shortdesc lang="en">IPv4 or IPv6 address, optionally /prefix</shortdesc><content type="string"/></parameter>
    <parameter name="cidrNetmask"><shortdesc lang="en">Prefix length</shortdesc><content type="integer"/></parameter>
    <parameter name="nic"><shortdesc lang="en">Interface (default: the one on the address's subnet)</shortdesc><content type="string"/></parameter>
    <parameter name="label"><shortdesc lang="en">IPv4 label, nic:something</shortdesc><content type="string"/></parameter>
    <parameter name="leaseSeconds"><shortdesc lang="en">Kernel lifetime renewed by monitor; 0 for none</shortdesc><content type="integer" default="${DEFAULT_LEASE_SECONDS}"/></parameter>
    <parameter name="leaseMs"><shortdesc lang="en">nftables lease in ms (traffic to the VIP dropped unless renewed), e.g. ${RECOMMENDED_LEASE_MS}; 0 or unset for none</shortdesc><content type="integer" default="0"/></parameter>
    <parameter name="announce"><shortdesc lang="en">auto or none</shortdesc><content type="string" default="auto"/></parameter>
    <parameter name="arpCount"><shortdesc lang="en">Announcements sent by start</shortdesc><content type="integer" default="${DEFAULT_ARP_COUNT}"/></parameter>
    <parameter name="netns"><shortdesc lang="en">Network namespace to act in</shortdesc><content type="string"/></parameter>
  </parameters>
  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s"/>
    <action name="validate-all" timeout="20s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
`;
