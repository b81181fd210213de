/**
 * The vip agent's nftables lease on real kernels, inside lab namespaces only (prefix snt-nf…):
 * a holder whose renewals stop (its node lost its lease, or the process is frozen) becomes
 * unreachable — TCP, ARP, IPv6 and neighbour discovery — within its holdover bound, though the
 * address is still configured; a late renewal never brings it back; stop removes the rules;
 * start replaces a table a killed holder left; missing nft support is a coded error.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { AgentError, OCF, type AgentContext } from '../../agents/types.js';
import { NftUnsupportedError } from '../../agents/vip-nft.js';
import { vip, type VipParams } from '../../agents/vip.js';
import type { PrimitiveConfig } from '../../lib/cib/model.js';
import { AgentRunner } from '../../lib/runtime/agent-runner.js';
import { JsonLines, netnsUnavailable, run } from '../helpers/netns.js';
import { makeVipLab, type VipLab } from '../helpers/vip-lab.js';
import { tempDir, waitUntil, writeScript } from './fixtures/helpers.js';

// The default: short enough to show the lease, long enough that a loaded CI host does not lapse it.
const LEASE_MS = 400;
const PORT = 7311;

function ctx(params: VipParams = {}): AgentContext<VipParams> {
  return { params, signal: AbortSignal.timeout(30_000) };
}

async function unavailable(): Promise<string | undefined> {
  const reason = await netnsUnavailable();
  if (reason) return `needs root and network namespaces: ${reason}`;
  try {
    await run('nft', ['--version']);
  } catch {
    return 'needs nft (Debian package nftables; .ci/run installs it)';
  }
  return undefined;
}

/** Two namespaces on a veth (10.232.0.0/24, fd00:232::/64), and a TCP listener on every holder address (port PORT). */
function makeLab(): Promise<VipLab> {
  return makeVipLab({ prefix: `snt-nf${Math.random().toString(36).slice(2, 5).padEnd(3, '0')}`, net: 232, listenPort: PORT });
}

/** One TCP connect from the peer: true if it was answered within 300 ms. */
async function tcpAnswers(peer: string, address: string): Promise<boolean> {
  const script = `const s = require('net').connect({ host: '${address}', port: ${PORT}, timeout: 300 });
s.on('connect', () => { console.log('ok'); process.exit(0); });
s.on('timeout', () => { console.log('timeout'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
  const { stdout } = await run('ip', ['netns', 'exec', peer, process.execPath, '-e', script]);
  return stdout.trim() === 'ok';
}

/** One ARP request for `address` from the peer (its cache bypassed): true if answered. */
async function arpAnswers(peer: string, peerNic: string, address: string): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', peer, 'arping', '-c', '2', '-w', '2', '-I', peerNic, address]);
    return true;
  } catch {
    return false;
  }
}

/** Neighbour discovery for `address` from a flushed cache: true if the peer learnt a MAC. */
async function ndAnswers(peer: string, peerNic: string, address: string): Promise<boolean> {
  await run('ip', ['-n', peer, 'neigh', 'flush', 'dev', peerNic]);
  // Any packet to the address makes the peer solicit it; a TCP connect needs no extra tool.
  await tcpAnswers(peer, address);
  const entries = JSON.parse((await run('ip', ['-n', peer, '-j', 'neigh', 'show', 'to', address, 'dev', peerNic])).stdout || '[]') as { lladdr?: string }[];
  return entries.some((e) => e.lladdr !== undefined);
}

async function tables(ns: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables']);
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('sanode_vip_'));
}

async function hasAddress(ns: string, address: string): Promise<boolean> {
  return (await run('ip', ['-n', ns, 'addr', 'show'])).stdout.includes(`${address}/`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function skipIf(t: TestContext, reason: string | undefined): boolean {
  if (reason) t.skip(reason);
  return reason !== undefined;
}

/** What differs between the families for a VIP and the holder's own address on the lab's veth. */
interface Family {
  readonly name: 'IPv4' | 'IPv6';
  readonly vip: string;
  readonly own: string;
  /** How the peer finds the holder's MAC: ARP, or an IPv6 neighbour solicitation (NS). */
  readonly resolver: 'ARP' | 'NS';
  resolves(peer: string, peerNic: string, address: string): Promise<boolean>;
}

const IPV4: Family = { name: 'IPv4', vip: '10.232.0.100', own: '10.232.0.1', resolver: 'ARP', resolves: arpAnswers };
const IPV6: Family = { name: 'IPv6', vip: 'fd00:232::100', own: 'fd00:232::1', resolver: 'NS', resolves: ndAnswers };

/** The peer reaches the VIP: TCP is answered and its MAC resolves. */
async function assertServed(l: VipLab, f: Family, when: string): Promise<void> {
  assert.equal(await tcpAnswers(l.peer, f.vip), true, `${f.name}: TCP not answered ${when}`);
  assert.equal(await f.resolves(l.peer, l.peerNic, f.vip), true, `${f.name}: ${f.resolver} not answered ${when}`);
}

/**
 * Stops the renewals as the runtime does on SANODE_SELF_STOP and waits out the holdover: from
 * then on the VIP, though still configured, serves nobody, and the holder's own address is
 * untouched.
 */
async function assertDarkAfterLease(t: TestContext, agent: ReturnType<typeof vip>, l: VipLab, f: Family): Promise<void> {
  const haltedAt = performance.now();
  agent.haltLeases('test: lease lost');
  const bound = agent.holdoverMs!({})!;
  await sleep(Math.max(0, haltedAt + bound - performance.now()));
  const checkedAt = performance.now();
  const late = `${Math.round(checkedAt - haltedAt)} ms after the last renewal (bound ${bound} ms)`;
  assert.equal(await hasAddress(l.holder, f.vip), true, 'the address is still there (valid_lft is the backstop)');
  assert.equal(await tcpAnswers(l.peer, f.vip), false, `TCP still answered ${late}`);
  assert.equal(await f.resolves(l.peer, l.peerNic, f.vip), false, `${f.resolver} for the VIP still answered ${late}`);
  assert.equal(await tcpAnswers(l.peer, f.own), true, 'the holder\'s own address still serves');
  assert.equal(await f.resolves(l.peer, l.peerNic, f.own), true, 'the holder\'s own address still resolves');
  assert.equal(await agent.monitor(ctx()), 'failed', 'an unguarded VIP does not serve');
  t.diagnostic(`${f.name}: halted at 0 ms, checked unreachable at ${Math.round(checkedAt - haltedAt)} ms (bound ${bound} ms)`);
}

test('IPv4: a holder that stops renewing (lease lost) goes dark for TCP and ARP within its holdover, though the address stays; a new start serves again; stop removes the tables', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const l = await makeLab();
  const { lab, holder, nic } = l;
  const params: VipParams = { ip: `${IPV4.vip}/24`, nic, netns: holder, leaseMs: LEASE_MS, announce: 'none' };
  const agent = vip(params);
  try {
    await agent.start(ctx());
    assert.deepEqual(await tables(holder), ['table inet sanode_vip_10_232_0_100', 'table arp sanode_vip_10_232_0_100']);
    await assertServed(l, IPV4, 'while renewed');
    // Longer than the lease: only renewals can have kept it alive.
    await sleep(LEASE_MS * 3);
    assert.equal(await agent.monitor(ctx()), 'running');
    assert.equal(await tcpAnswers(l.peer, IPV4.vip), true, 'still served after several leases: renewals work');
    const renewer = agent.renewerFor({})!;
    assert.ok(renewer.acked >= 4, `renewed ${renewer.acked} times in ${LEASE_MS * 3} ms`);

    await assertDarkAfterLease(t, agent, l, IPV4);

    await agent.start(ctx());
    await assertServed(l, IPV4, 'once renewing again');

    await agent.stop(ctx());
    assert.deepEqual(await tables(holder), [], 'stop removes both tables');
    assert.equal(await hasAddress(holder, IPV4.vip), false);
    assert.equal(agent.renewerFor({}), undefined);
    await agent.stop(ctx()); // idempotent
  } finally {
    agent.haltLeases('test over');
    await lab.cleanup();
  }
});

test('renewals stop at the end of the node\'s resource lease without a halt: the VIP goes dark within the holdover from it, and renews again once the lease is renewed in time', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const l = await makeLab();
  const { lab, holder, nic } = l;
  // The node driver's lease as the runtime passes it (AgentRunner.setLeaseGate): here, a test clock.
  let leaseUntil = Infinity;
  const agent = vip({ ip: `${IPV4.vip}/24`, nic, netns: holder, leaseMs: LEASE_MS, announce: 'none' }, { leaseUntil: () => leaseUntil });
  try {
    await agent.start(ctx());
    await assertServed(l, IPV4, 'while the lease holds');
    const renewer = agent.renewerFor({})!;
    // A brief gap in the lease, shorter than the nft lease: renewals pause and resume, nothing lapses.
    leaseUntil = performance.now();
    await sleep(LEASE_MS / 2);
    const gatedInGap = renewer.leaseGated;
    leaseUntil = Infinity;
    await sleep(LEASE_MS);
    assert.ok(gatedInGap > 0, 'ticks inside the gap sent no renewal');
    assert.equal(renewer.state, 'renewing');
    assert.equal(await tcpAnswers(l.peer, IPV4.vip), true, 'served again once the lease was renewed in time');

    // The lease ends and nobody halts the renewer (the node's self-stop never ran).
    const endedAt = performance.now();
    leaseUntil = endedAt;
    const bound = agent.holdoverMs!({})!;
    await sleep(Math.max(0, endedAt + bound - performance.now()));
    assert.equal(renewer.state, 'renewing', 'not halted: only the gate stopped the renewals');
    assert.ok(renewer.leaseGated > gatedInGap, 'ticks after the lease end sent no renewal');
    assert.equal(await hasAddress(holder, IPV4.vip), true, 'the address is still there (valid_lft is the backstop)');
    assert.equal(await tcpAnswers(l.peer, IPV4.vip), false, `TCP still answered ${Math.round(performance.now() - endedAt)} ms after the lease ended (bound ${bound} ms)`);
    assert.equal(await arpAnswers(l.peer, l.peerNic, IPV4.vip), false, 'ARP for the VIP still answered after the holdover');
    await agent.stop(ctx());
  } finally {
    agent.haltLeases('test over');
    await lab.cleanup();
  }
});

test('IPv6: after the lease, neighbour solicitations for the VIP go unanswered and TCP is dropped', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const l = await makeLab();
  const { lab, holder, nic } = l;
  const agent = vip({ ip: `${IPV6.vip}/64`, nic, netns: holder, leaseMs: LEASE_MS, announce: 'none' });
  try {
    await agent.start(ctx());
    assert.deepEqual(await tables(holder), ['table inet sanode_vip_fd000232000000000000000000000100']);
    await assertServed(l, IPV6, 'while renewed');
    await assertDarkAfterLease(t, agent, l, IPV6);
    await agent.stop(ctx());
    assert.deepEqual(await tables(holder), []);
  } finally {
    agent.haltLeases('test over');
    await lab.cleanup();
  }
});

test('a frozen holder (SIGSTOP) goes dark within its holdover, its late renewal is refused on resume, and after kill -9 a new start cleans up the stale table', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const { lab, holder, peer, nic, peerNic } = await makeLab();
  const dir = await tempDir(t, 'vipnft');
  const vipModule = fileURLToPath(new URL('../../agents/vip.js', import.meta.url));
  const params: VipParams = { ip: '10.232.0.101/24', nic, netns: holder, leaseMs: LEASE_MS, announce: 'none' };
  const script = join(dir, 'holder.mjs');
  // The holder process: starts the VIP, then reports its renewer's state every 20 ms.
  await writeFile(
    script,
    `import { vip } from ${JSON.stringify(vipModule)};
const agent = vip(${JSON.stringify(params)});
await agent.start({ params: {}, signal: AbortSignal.timeout(30000) });
console.log(JSON.stringify({ started: true }));
setInterval(() => { const r = agent.renewerFor({}); console.log(JSON.stringify({ state: r ? r.state : 'none', acked: r ? r.acked : -1 })); }, 20);
`,
  );
  const child = lab.spawn(holder, [process.execPath, script]);
  const lines = new JsonLines<{ started?: boolean; state?: string; acked?: number }>(child.stdout);
  const agent = vip(params);
  try {
    await lines.waitFor('started', (l) => l.started === true, 15_000);
    assert.equal(await tcpAnswers(peer, '10.232.0.101'), true);
    const frozenAt = performance.now();
    process.kill(child.pid!, 'SIGSTOP');
    await sleep(Math.max(0, frozenAt + agent.holdoverMs!({})! - performance.now()));
    assert.equal(await tcpAnswers(peer, '10.232.0.101'), false, 'a frozen holder must not serve past its holdover');
    assert.equal(await arpAnswers(peer, peerNic, '10.232.0.101'), false, 'a frozen holder must not answer ARP past its holdover');
    const seen = lines.lines.length;
    process.kill(child.pid!, 'SIGCONT');
    // On resume its renewal reaches a kernel whose element has expired: refused, for good.
    await lines.waitFor('lapsed after resume', (l) => l.state === 'lapsed', 5_000, seen);
    await sleep(LEASE_MS);
    // Every report after resuming, for the whole window: the kernel accepted no renewal.
    const after = lines.lines.slice(seen).filter((l) => l.state !== undefined);
    const ackedAtFreeze = after[0]!.acked;
    assert.ok(after.every((l) => l.acked === ackedAtFreeze), `renewals accepted after resume: ${JSON.stringify(after)}`);
    assert.equal(await tcpAnswers(peer, '10.232.0.101'), false, 'the late renewal did not bring the VIP back');

    process.kill(child.pid!, 'SIGKILL');
    await waitUntil('holder gone', () => child.exitCode !== null || child.signalCode !== null);
    assert.equal(await hasAddress(holder, '10.232.0.101'), true, 'the killed holder left its address (and tables) behind');
    assert.equal((await tables(holder)).length, 2);
    // A stale table with an extra chain: start must replace it, not add to it.
    await run('ip', ['netns', 'exec', holder, 'nft', 'add chain inet sanode_vip_10_232_0_101 stale']);
    await agent.start(ctx());
    const ruleset = (await run('ip', ['netns', 'exec', holder, 'nft', 'list', 'table', 'inet', 'sanode_vip_10_232_0_101'])).stdout;
    assert.ok(!ruleset.includes('chain stale'), 'the stale table was replaced');
    assert.equal(await tcpAnswers(peer, '10.232.0.101'), true, 'served by the new start');
    await agent.stop(ctx());
    assert.deepEqual(await tables(holder), []);
  } finally {
    agent.haltLeases('test over');
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGCONT');
      process.kill(child.pid!, 'SIGKILL');
    }
    await lab.cleanup();
  }
});

test('missing nft support is SANODE_NFT_UNSUPPORTED (ERR_INSTALLED) naming the fix, and no address is added', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const { lab, holder, nic } = await makeLab();
  const dir = await tempDir(t, 'vipnft');
  // A kernel without the arp family answers every transaction like this.
  const fake = await writeScript(join(dir, 'nft'), `#!/bin/sh\nwhile read -r line; do echo 'Error: Could not process rule: Operation not supported' >&2; done\n`);
  const cases: [string, RegExp][] = [
    ['/nonexistent/nft', /install Debian package nftables/],
    [fake, /CONFIG_NF_TABLES_ARP/],
  ];
  try {
    for (const [nftPath, fix] of cases) {
      const agent = vip({ ip: '10.232.0.102/24', nic, netns: holder, leaseMs: LEASE_MS, announce: 'none' }, { nftPath });
      await assert.rejects(agent.start(ctx()), (error: unknown) => {
        assert.ok(error instanceof NftUnsupportedError && error instanceof AgentError, String(error));
        assert.equal(error.code, 'SANODE_NFT_UNSUPPORTED');
        assert.equal(error.rc, OCF.ERR_INSTALLED);
        assert.match(error.message, fix);
        return true;
      });
      assert.equal(await hasAddress(holder, '10.232.0.102'), false, `${nftPath}: no address without its guard`);
      // Stop still succeeds: nothing was installed.
      await agent.stop(ctx());
    }
  } finally {
    await lab.cleanup();
  }
});

test('runtime: AgentRunner.leaseLost (called on SANODE_SELF_STOP) stops the renewals of a VIP it started, before any stop', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const { lab, holder, peer, nic } = await makeLab();
  const runner = new AgentRunner(undefined);
  const primitive: PrimitiveConfig = {
    kind: 'primitive',
    id: 'vip1',
    agent: { class: 'sanode', type: 'vip' },
    params: { ip: '10.232.0.103/24', nic, netns: holder, leaseMs: String(LEASE_MS), announce: 'none' },
  };
  const op = (opId: number, name: 'start' | 'stop' | 'monitor') => ({ opId, rsc: 'vip1', op: name, intervalMs: 0, timeoutMs: 20_000, primitive });
  try {
    assert.equal((await runner.run(op(1, 'start'))).rc, OCF.SUCCESS);
    assert.equal(await tcpAnswers(peer, '10.232.0.103'), true);
    const lostAt = performance.now();
    runner.leaseLost('stopping resources on node-1: lease expired');
    await sleep(Math.max(0, lostAt + runner.holdoverMs(primitive)! - performance.now()));
    assert.equal(await tcpAnswers(peer, '10.232.0.103'), false, 'renewals went on after the lease was lost');
    assert.equal((await runner.run(op(2, 'monitor'))).rc, OCF.ERR_GENERIC, 'monitor sees the lapsed guard');
    assert.equal((await runner.run(op(3, 'stop'))).rc, OCF.SUCCESS);
    assert.deepEqual(await tables(holder), []);
  } finally {
    await runner.close();
    await lab.cleanup();
  }
});

test('runtime: AgentRunner.setLeaseGate (the node driver\'s resource lease) ends the renewals of its VIPs at the lease end, with no self-stop', async (t) => {
  if (skipIf(t, await unavailable())) return;
  const { lab, holder, peer, nic } = await makeLab();
  const runner = new AgentRunner(undefined);
  let leaseUntil = Infinity;
  runner.setLeaseGate(() => leaseUntil);
  const primitive: PrimitiveConfig = {
    kind: 'primitive',
    id: 'vip1',
    agent: { class: 'sanode', type: 'vip' },
    params: { ip: '10.232.0.104/24', nic, netns: holder, leaseMs: String(LEASE_MS), announce: 'none' },
  };
  try {
    assert.equal((await runner.run({ opId: 1, rsc: 'vip1', op: 'start', intervalMs: 0, timeoutMs: 20_000, primitive })).rc, OCF.SUCCESS);
    await sleep(LEASE_MS * 2);
    assert.equal(await tcpAnswers(peer, '10.232.0.104'), true, 'renewed while the lease holds');
    leaseUntil = performance.now();
    await sleep(runner.holdoverMs(primitive)!);
    assert.equal(await tcpAnswers(peer, '10.232.0.104'), false, 'renewals went on past the node\'s lease');
  } finally {
    await runner.close();
    await lab.cleanup();
  }
});

test('leaseMs: parsed and bounded; holdoverMs is the nft bound when on and the valid_lft bound when off', () => {
  const agent = vip({ ip: '10.232.0.100/24', nic: 'lo' });
  assert.equal(agent.holdoverMs!({ leaseMs: 200 }), 525);
  assert.equal(agent.holdoverMs!({ leaseMs: 400 }), 1025);
  assert.equal(agent.holdoverMs!({})!, 31_000, 'off unless asked for: the valid_lft bound (30 s + 1 s)');
  assert.equal(agent.holdoverMs!({ leaseMs: 0, leaseSeconds: 5 }), 6000);
  assert.equal(agent.holdoverMs!({ leaseMs: 'off', leaseSeconds: 'forever' }), undefined, 'no lease: only the node stops it (selfStopMs counts)');
  assert.equal(agent.holdoverMs!({ leaseMs: 'soon' }), undefined, 'start refuses it, so nothing is held');
  // With the lease gate the last renewal is sent before the node's lease ends: no late ticks to allow for.
  const gated = vip({ ip: '10.232.0.100/24', nic: 'lo' }, { leaseUntil: () => Infinity });
  assert.equal(gated.holdoverMs!({ leaseMs: 400 }), 825);
  assert.equal(new AgentRunner(undefined).holdoverMs({ kind: 'primitive', id: 'v', agent: { class: 'sanode', type: 'vip' }, params: { ip: '10.232.0.100/24', leaseMs: '400' } }), 825, 'the runtime\'s vip agent is gated');
});
