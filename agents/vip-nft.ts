/**
 * The vip agent's millisecond lease: nftables rules that drop everything addressed to the VIP
 * and everything that announces it (IPv4, ARP, IPv6, neighbour discovery) unless the VIP is an
 * element of a `flags timeout` set, and a renewer that keeps re-adding that element through one
 * long-lived `nft -e -i` child.
 *
 * Why the kernel keeps it: a frozen, killed or cut-off holder renews nothing, and the element
 * expires on its own `leaseMs` after the last renewal the kernel accepted; no user-space process
 * has to run for the VIP to go dark. The address (valid_lft) stays as a second, coarser lease.
 *
 * Why renewals are `delete element …; add element …` in one transaction: deleting an expired
 * element fails, which aborts the whole transaction, so a late renewal can never bring back a
 * lapsed VIP (a plain `add` would re-create it). And why one renewal at a time, each waiting for
 * nft's echo: the kernel can accept a renewal only while the previous element is live, and the
 * previous one was accepted before the next was sent, so the element dies at most 2 × leaseMs
 * after the last renewal sent, however late the nft process runs (docs/agents.md).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ErrorCode } from '../lib/errors/index.js';
import { AgentError, OCF } from './types.js';

/** `SANODE_NFT_UNSUPPORTED` (docs/errors.md): nft or the kernel support the lease needs is missing. */
export const NFT_UNSUPPORTED: ErrorCode = 'SANODE_NFT_UNSUPPORTED';

export class NftUnsupportedError extends AgentError {
  readonly code: ErrorCode = NFT_UNSUPPORTED;
  constructor(message: string) {
    super(OCF.ERR_INSTALLED, `${NFT_UNSUPPORTED}: ${message}`);
    this.name = 'NftUnsupportedError';
  }
}

export interface NftGuard {
  readonly address: string;
  readonly family: 4 | 6;
  readonly leaseMs: number;
}

/** One table per VIP and family, named after the address, so several VIPs coexist. */
export function guardTableName(address: string, family: 4 | 6, value: bigint): string {
  if (family === 4) return `sanode_vip_${address.replace(/\./g, '_')}`;
  return `sanode_vip_${value.toString(16).padStart(32, '0')}`;
}

/** The families this guard uses: inet for IP and neighbour discovery, arp for ARP. */
function families(family: 4 | 6): readonly ('inet' | 'arp')[] {
  return family === 4 ? ['inet', 'arp'] : ['inet'];
}

/**
 * The whole guard in one transaction: any table a killed holder left behind is deleted (the
 * `add table` first makes the delete succeed when there is none), the rules are installed, and
 * the element is live from the first moment the rules are.
 */
export function installScript(guard: NftGuard, table: string, value: bigint): string {
  const a = guard.address;
  const lines: string[] = [];
  for (const f of families(guard.family)) lines.push(`add table ${f} ${table}`, `delete table ${f} ${table}`);
  // Priority -300: before conntrack (-200), so a lapsed VIP's packets touch no state at all.
  if (guard.family === 4) {
    lines.push(
      `add table inet ${table}`,
      `add set inet ${table} live { type ipv4_addr; flags timeout; }`,
      `add chain inet ${table} pre { type filter hook prerouting priority -300; policy accept; }`,
      `add chain inet ${table} out { type filter hook output priority -300; policy accept; }`,
      `add rule inet ${table} pre ip daddr ${a} ip daddr != @live drop`,
      `add rule inet ${table} out ip saddr ${a} ip saddr != @live drop`,
      // A frozen holder's kernel still answers ARP requests for the VIP and would keep pulling
      // traffic to itself; nor may it announce the VIP (gratuitous ARP) once the lease is gone.
      `add table arp ${table}`,
      `add set arp ${table} live { type ipv4_addr; flags timeout; }`,
      `add chain arp ${table} in { type filter hook input priority 0; policy accept; }`,
      `add chain arp ${table} out { type filter hook output priority 0; policy accept; }`,
      `add rule arp ${table} in arp daddr ip ${a} arp daddr ip != @live drop`,
      `add rule arp ${table} out arp saddr ip ${a} arp saddr ip != @live drop`,
    );
  } else {
    // Neighbour solicitations go to the solicited-node multicast address, not the VIP: match the
    // target in the ICMPv6 body (bytes 8..23). nft 1.0.6 has no `icmpv6 taddr`, and a raw match
    // cannot be looked up in an ipv6_addr set, hence a second set of the raw field's type.
    const target = `0x${value.toString(16).padStart(32, '0')}`;
    lines.push(
      `add table inet ${table}`,
      `add set inet ${table} live6 { type ipv6_addr; flags timeout; }`,
      `add set inet ${table} nd6 { typeof @th,64,128; flags timeout; }`,
      `add chain inet ${table} pre { type filter hook prerouting priority -300; policy accept; }`,
      `add chain inet ${table} out { type filter hook output priority -300; policy accept; }`,
      `add rule inet ${table} pre ip6 daddr ${a} ip6 daddr != @live6 drop`,
      `add rule inet ${table} pre icmpv6 type nd-neighbor-solicit @th,64,128 ${target} @th,64,128 != @nd6 drop`,
      `add rule inet ${table} out ip6 saddr ${a} ip6 saddr != @live6 drop`,
      `add rule inet ${table} out icmpv6 type nd-neighbor-advert @th,64,128 ${target} @th,64,128 != @nd6 drop`,
    );
  }
  lines.push(...elementCommands(guard, table, value, false));
  return `${lines.join('\n')}\n`;
}

/** `add element` for every set (after `delete element` when renewing), in a fixed order. */
function elementCommands(guard: NftGuard, table: string, value: bigint, renew: boolean): string[] {
  const sets: [string, string, string][] =
    guard.family === 4
      ? [['inet', 'live', guard.address], ['arp', 'live', guard.address]]
      : [['inet', 'live6', guard.address], ['inet', 'nd6', `0x${value.toString(16).padStart(32, '0')}`]];
  const out: string[] = [];
  for (const [f, set, key] of sets) {
    if (renew) out.push(`delete element ${f} ${table} ${set} { ${key} }`);
    out.push(`add element ${f} ${table} ${set} { ${key} timeout ${guard.leaseMs}ms }`);
  }
  return out;
}

/** One line: one transaction, so either every set is renewed or none is. */
export function renewLine(guard: NftGuard, table: string, value: bigint): string {
  return `${elementCommands(guard, table, value, true).join('; ')}\n`;
}

export function removeScript(guard: NftGuard, table: string): string {
  const lines: string[] = [];
  for (const f of families(guard.family)) lines.push(`add table ${f} ${table}`, `delete table ${f} ${table}`);
  return `${lines.join('\n')}\n`;
}

/** Turns nft's failure to install the guard into what is missing and how to fix it. */
export function unsupported(stderr: string, family: 4 | 6): NftUnsupportedError | undefined {
  const text = stderr.trim();
  if (/Operation not supported|Protocol not supported|not supported|Address family not supported/i.test(text)) {
    const what = family === 4 ? 'nf_tables with the inet and arp families (CONFIG_NF_TABLES_INET, CONFIG_NF_TABLES_ARP)' : 'nf_tables with the inet family (CONFIG_NF_TABLES_INET)';
    return new NftUnsupportedError(`the kernel lacks ${what}, set element timeouts or the hash set type (nft_set_hash); load the modules (modprobe nf_tables) or use a kernel built with them, or set leaseMs to 0 (${text})`);
  }
  if (/Operation not permitted|Permission denied/i.test(text)) {
    return new NftUnsupportedError(`nft may not change the ruleset here: run the node with CAP_NET_ADMIN (root), or set leaseMs to 0 (${text})`);
  }
  if (/syntax error|unknown|Could not parse/i.test(text)) {
    return new NftUnsupportedError(`this nft cannot parse the guard (needs nftables >= 1.0 with typeof sets); upgrade Debian package nftables, or set leaseMs to 0 (${text})`);
  }
  return undefined;
}

export function nftMissing(path: string): NftUnsupportedError {
  return new NftUnsupportedError(`${path} not found: install Debian package nftables, or set leaseMs to 0 to lease the VIP by valid_lft only`);
}

export interface RenewerOptions {
  /** The argv of the long-lived child: `nft -e -i`, wrapped in `ip netns exec` when needed. */
  readonly argv: readonly string[];
  readonly guard: NftGuard;
  readonly table: string;
  readonly value: bigint;
  readonly now: () => number;
  /**
   * Until when (on `now`'s clock) this node's resource lease holds; no renewal is sent at or after
   * it. Without it only halt() stops renewals.
   */
  readonly leaseUntil?: () => number;
  /** installScript's text: sent first, as one transaction (one line). */
  readonly install: string;
}

export type RenewerState = 'renewing' | 'halted' | 'lapsed';

/**
 * Renews the guard's element every leaseMs / 4 until halted. Lapses for good (only a new start
 * renews again) when a renewal fails (the element had expired, or the table is gone) or the
 * child dies. A tick more than leaseMs / 2 after the one before means this process did not run
 * for a while and its node's resource lease may have run out meanwhile: that tick sends nothing
 * (the runtime's own lease check, overdue too, runs before the next tick and halts us).
 * With `leaseUntil`, every renewal is sent only while the node's resource lease holds, so the
 * element dies at most 2 × leaseMs after that lease ends whether or not the node's self-stop ever
 * gets to halt us (the holdover the agent declares).
 */
export class NftRenewer {
  readonly intervalMs: number;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly timer: NodeJS.Timeout;
  private stateValue: RenewerState = 'renewing';
  private reasonText = '';
  private lastTickMs: number;
  /** When the renewal that nft has not yet echoed was written; undefined when none is. */
  private inFlightSince: number | undefined;
  private stdoutTail = '';
  private stderrText = '';
  private ackWaiters: (() => void)[] = [];
  /** Ticks not renewed because they came more than leaseMs / 2 after the one before. */
  stallsSkipped = 0;
  /** Ticks not renewed because the node's resource lease had ended (RenewerOptions.leaseUntil). */
  leaseGated = 0;
  /** Renewals the kernel accepted: the first is start's own. */
  acked = 0;
  /** When the last accepted renewal was written (its element lives leaseMs from when nft ran it). */
  lastAckedSentMs: number | undefined;
  readonly exited: Promise<void>;

  constructor(private readonly o: RenewerOptions) {
    this.intervalMs = Math.max(5, Math.floor(o.guard.leaseMs / 4));
    this.lastTickMs = o.now();
    const [file = 'nft', ...args] = o.argv;
    // Not detached: a node killed with its process group takes its nft along. One that survives
    // its parent (kill -9 of the node alone) reads EOF and exits; either way nothing renews.
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', (error) => this.lapse(`nft: ${error.message}`));
    this.child.once('exit', (code, signal) => this.lapse(`nft exited (${signal ?? `code ${code}`})`));
    this.child.stdin.on('error', () => this.lapse('nft closed its input'));
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    const ackPrefix = `add element inet ${o.table} ${o.guard.family === 4 ? 'live' : 'live6'} `;
    this.child.stdout.on('data', (chunk: string) => {
      const lines = (this.stdoutTail + chunk).split('\n');
      this.stdoutTail = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith(ackPrefix)) this.onAck();
    });
    this.child.stderr.on('data', (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-4000);
      if (/Error:/.test(this.stderrText)) this.lapse(`renewal refused: ${this.stderrText.trim().split('\n')[0]}`);
    });
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    // The lease must not keep a process alive that has nothing else to do (a node keeps its own
    // loop running); when that process exits, nft reads EOF and exits too.
    this.timer.unref();
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
    // One line, one transaction: the stale table goes, the rules and a live element arrive together.
    this.inFlightSince = o.now();
    this.child.stdin.write(`${o.install.trim().split('\n').join('; ')}\n`);
  }

  get state(): RenewerState {
    return this.stateValue;
  }

  /** What nft wrote to stderr (the last 4,000 characters). */
  get errors(): string {
    return this.stderrText;
  }

  get reason(): string {
    return this.reasonText;
  }

  /** Resolves once the kernel has accepted `count` renewals, or rejects when the renewer lapses. */
  waitForAck(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.acked >= count) {
          resolve();
          return true;
        }
        if (this.stateValue !== 'renewing') {
          reject(new Error(this.reasonText));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.ackWaiters = this.ackWaiters.filter((w) => w !== waiter);
        reject(new Error(`nft did not confirm a renewal within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (): void => {
        if (check()) {
          clearTimeout(timer);
          this.ackWaiters = this.ackWaiters.filter((w) => w !== waiter);
        }
      };
      this.ackWaiters.push(waiter);
    });
  }

  /** Stops renewing at once (the element runs out by itself) and ends the child. */
  halt(reason: string): void {
    if (this.stateValue === 'renewing') {
      this.stateValue = 'halted';
      this.reasonText = reason;
    }
    this.shutdown();
  }

  private lapse(reason: string): void {
    if (this.stateValue === 'renewing') {
      this.stateValue = 'lapsed';
      this.reasonText = reason;
    }
    this.shutdown();
  }

  private shutdown(): void {
    clearInterval(this.timer);
    // SIGKILL, not EOF: a renewal nft has read but not yet sent must not reach the kernel later.
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const waiter of this.ackWaiters.splice(0)) waiter();
  }

  private tick(): void {
    const now = this.o.now();
    const late = now - this.lastTickMs;
    this.lastTickMs = now;
    if (this.stateValue !== 'renewing') return;
    if (late > this.o.guard.leaseMs / 2) {
      // Skipped, not renewed: the runtime's lease check, due during the stall, runs before the
      // next tick and halts this renewer if the node's lease ran out meanwhile.
      this.stallsSkipped += 1;
      return;
    }
    if (this.o.leaseUntil !== undefined && now >= this.o.leaseUntil()) {
      // Not halted: a token can still renew the node's lease, and the element may still be live.
      this.leaseGated += 1;
      return;
    }
    // One renewal at a time (see the module comment); a slow nft skips ticks.
    if (this.inFlightSince === undefined) this.send();
  }

  private send(): void {
    this.inFlightSince = this.o.now();
    this.child.stdin.write(renewLine(this.o.guard, this.o.table, this.o.value));
  }

  private onAck(): void {
    if (this.inFlightSince !== undefined) this.lastAckedSentMs = this.inFlightSince;
    this.inFlightSince = undefined;
    this.acked += 1;
    for (const waiter of [...this.ackWaiters]) waiter();
  }
}
