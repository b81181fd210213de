/**
 * vip on real kernels, inside lab namespaces only: the address, its label and lease, the
 * gratuitous ARP / unsolicited NA as seen by a second namespace, renewal, expiry and stop.
 * Every command of the agent runs through `ip netns exec` (the `netns` param), so nothing is added
 * to the host's interfaces and nothing is sent outside the lab.
 */
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCommand, type CommandRunner } from '../../agents/command.js';
import { AgentError, OCF, type AgentContext } from '../../agents/types.js';
import { toBigInt, vip, type VipParams } from '../../agents/vip.js';
import { netnsUnavailable, run } from '../helpers/netns.js';
import { makeVipLab, type VipLab } from '../helpers/vip-lab.js';
import { tempDir, waitUntil } from './fixtures/helpers.js';

const OLD_HOLDER_MAC = '02:00:5e:00:00:01';

function ctx(params: VipParams = {}, signal = AbortSignal.timeout(60_000)): AgentContext<VipParams> {
  return { params, signal };
}

/** Two namespaces on one veth (10.231.0.0/24, fd00:231::/64): the VIP holder and a peer that watches its neighbour table. */
function makeLab(): Promise<VipLab> {
  return makeVipLab({ net: 231 });
}

interface Addr {
  local: string;
  prefixlen: number;
  label?: string;
  valid_life_time: number;
  tentative?: boolean;
}

async function addressesOf(ns: string, nic: string): Promise<Addr[]> {
  const links = JSON.parse((await run('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', nic])).stdout) as { addr_info: Addr[] }[];
  return links[0]?.addr_info ?? [];
}

async function find(ns: string, nic: string, address: string): Promise<Addr | undefined> {
  return (await addressesOf(ns, nic)).find((a) => toBigInt(a.local) === toBigInt(address));
}

async function neighbourMac(ns: string, address: string): Promise<string | undefined> {
  const entries = JSON.parse((await run('ip', ['-n', ns, '-j', 'neigh', 'show', 'to', address])).stdout || '[]') as { lladdr?: string }[];
  return entries[0]?.lladdr;
}

test('IPv4: start adds the address with a label and a finite lease, and the peer learns our MAC from the gratuitous ARP', async (t) => {
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, peer, nic, peerNic, mac } = await makeLab();
  try {
    // The peer still has the old holder's MAC for the VIP, as after a failover; only an
    // announcement from us can change that entry (no traffic to the VIP is sent).
    await run('ip', ['-n', peer, 'neigh', 'replace', '10.231.0.100', 'lladdr', OLD_HOLDER_MAC, 'dev', peerNic, 'nud', 'stale']);
    // No nic and no prefix: both come from the connected subnet 10.231.0.0/24 on `nic`.
    const agent = vip({ ip: '10.231.0.100', netns: holder, leaseSeconds: 20, arpCount: 1 });
    await agent.validate!(ctx());
    assert.equal(await agent.monitor(ctx()), 'not-running');

    await agent.start(ctx());
    const added = await find(holder, nic, '10.231.0.100');
    assert.ok(added, 'the address is on the nic found from the connected subnet');
    assert.equal(added.prefixlen, 24);
    assert.equal(added.label, `${nic}:vip`);
    assert.ok(added.valid_life_time > 0 && added.valid_life_time <= 20, `a finite lease, got valid_lft ${added.valid_life_time}`);
    await waitUntil('the peer to replace the old MAC with ours', async () => (await neighbourMac(peer, '10.231.0.100')) === mac);

    // Monitor renews: shorten the lease by hand, monitor must put it back to the configured 20 s.
    await run('ip', ['-n', holder, 'addr', 'change', '10.231.0.100/24', 'dev', nic, 'valid_lft', '6', 'preferred_lft', '6']);
    assert.equal(await agent.monitor(ctx()), 'running');
    const renewed = await find(holder, nic, '10.231.0.100');
    assert.ok(renewed && renewed.valid_life_time > 6 && renewed.valid_life_time <= 20, `renewed lease, got ${renewed?.valid_life_time}`);
    assert.equal(renewed.label, `${nic}:vip`, 'renewal keeps the label');

    // Carrier lost (the peer's end goes down): the address is there but serves nobody.
    await lab.setLink(peer, peerNic, 'down');
    await waitUntil('monitor to see the carrier gone', async () => (await agent.monitor(ctx())) === 'failed');
    await lab.setLink(peer, peerNic, 'up');
    await waitUntil('carrier back', async () => (await agent.monitor(ctx())) === 'running');

    await agent.start(ctx()); // start on a running VIP succeeds, as OCF requires
    await agent.stop(ctx());
    assert.equal(await find(holder, nic, '10.231.0.100'), undefined, 'stop removed the address');
    assert.equal(await agent.monitor(ctx()), 'not-running');
    await agent.stop(ctx()); // idempotent
    assert.ok(await find(holder, nic, '10.231.0.1'), 'stop leaves the nic\'s own address alone');
  } finally {
    await lab.cleanup();
  }
});

test('IPv6: nodad makes the address usable at once and send_ua\'s unsolicited NA updates the peer', async (t) => {
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, peer, nic, peerNic, mac } = await makeLab();
  try {
    await run('ip', ['-n', peer, 'neigh', 'replace', 'fd00:231::100', 'lladdr', OLD_HOLDER_MAC, 'dev', peerNic, 'nud', 'stale']);
    const agent = vip({ ip: 'fd00:231:0:0::100', cidrNetmask: 64, nic, netns: holder, leaseSeconds: 20, arpCount: 1 });
    await agent.validate!(ctx());
    await agent.start(ctx());
    const added = await find(holder, nic, 'fd00:231::100');
    assert.ok(added, 'the IPv6 address is on the nic');
    assert.equal(added.prefixlen, 64);
    assert.notEqual(added.tentative, true, 'not waiting for DAD');
    assert.ok(added.valid_life_time > 0 && added.valid_life_time <= 20, `a finite lease, got ${added.valid_life_time}`);
    await waitUntil('the peer to learn our MAC from the unsolicited NA', async () => (await neighbourMac(peer, 'fd00:231::100')) === mac);
    assert.equal(await agent.monitor(ctx()), 'running');
    await agent.stop(ctx());
    assert.equal(await find(holder, nic, 'fd00:231::100'), undefined);
    assert.equal(await agent.monitor(ctx()), 'not-running');
  } finally {
    await lab.cleanup();
  }
});

test('control: with announce none the peer keeps the old MAC, so the updates above come from our announcements', async (t) => {
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, peer, nic, peerNic } = await makeLab();
  try {
    for (const address of ['10.231.0.103', 'fd00:231::103']) {
      await run('ip', ['-n', peer, 'neigh', 'replace', address, 'lladdr', OLD_HOLDER_MAC, 'dev', peerNic, 'nud', 'stale']);
    }
    await vip({ ip: '10.231.0.103/24', nic, netns: holder, announce: 'none' }).start(ctx());
    await vip({ ip: 'fd00:231::103/64', nic, netns: holder, announce: 'none' }).start(ctx());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await neighbourMac(peer, '10.231.0.103'), OLD_HOLDER_MAC);
    assert.equal(await neighbourMac(peer, 'fd00:231::103'), OLD_HOLDER_MAC);
  } finally {
    await lab.cleanup();
  }
});

test('lease: without renewal the kernel removes the VIP by itself', async (t) => {
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, nic } = await makeLab();
  try {
    const agent = vip({ ip: '10.231.0.101/24', nic, netns: holder, leaseSeconds: 2, announce: 'none' });
    await agent.start(ctx());
    assert.ok(await find(holder, nic, '10.231.0.101'));
    // Nothing of ours runs from here on: this is the hung or killed holder.
    await waitUntil('the kernel to expire the address', async () => (await find(holder, nic, '10.231.0.101')) === undefined, 20_000);
    assert.equal(await agent.monitor(ctx()), 'not-running');
  } finally {
    await lab.cleanup();
  }
});

test('lease: a monitor that stalls between reading and renewing does not renew (a late renewal would re-create the VIP)', async (t) => {
  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, nic } = await makeLab();
  try {
    let stallMs = 0;
    const base: CommandRunner = (file, args, options) => runCommand('ip', ['netns', 'exec', holder, file, ...args], options);
    // Every read of the addresses is followed by a 10 s "stall" of our clock: longer than the
    // 5 s left on the lease, so whatever the kernel said has expired by the time we would renew.
    const runner: CommandRunner = async (file, args, options) => {
      const result = await base(file, args, options);
      if (args.includes('show')) stallMs += 10_000;
      return result;
    };
    // leaseMs 0: this is about valid_lft alone (vip-nft.test.ts covers the nft lease).
    const agent = vip({ ip: '10.231.0.102/24', nic, leaseSeconds: 30, leaseMs: 0, announce: 'none' }, { runner, now: () => performance.now() + stallMs });
    await agent.start(ctx());
    await run('ip', ['-n', holder, 'addr', 'change', '10.231.0.102/24', 'dev', nic, 'valid_lft', '5', 'preferred_lft', '5']);
    assert.equal(await agent.monitor(ctx()), 'failed', 'present but unrenewable: the holder must treat it as lost');
    const after = await find(holder, nic, '10.231.0.102');
    assert.ok(!after || after.valid_life_time <= 5, `the lease was not extended (valid_lft ${after?.valid_life_time})`);
  } finally {
    await lab.cleanup();
  }
});

test('validate: bad params are ERR_CONFIGURED, a missing nic or tool is ERR_INSTALLED', async (t) => {
  const code = async (params: VipParams, options = {}): Promise<number | undefined> => {
    try {
      await vip({}, options).validate!(ctx(params));
      return undefined;
    } catch (error) {
      assert.ok(error instanceof AgentError, String(error));
      return error.rc;
    }
  };
  assert.equal(await code({}), OCF.ERR_CONFIGURED);
  assert.equal(await code({ ip: '10.0.0.300' }), OCF.ERR_CONFIGURED);
  assert.equal(await code({ ip: '10.231.0.100', cidrNetmask: 33, nic: 'lo' }), OCF.ERR_CONFIGURED);
  assert.equal(await code({ ip: 'fd00::1/129', nic: 'lo' }), OCF.ERR_CONFIGURED);
  assert.equal(await code({ ip: '10.231.0.100/24', nic: 'lo', leaseSeconds: 1 }), OCF.ERR_CONFIGURED);
  assert.equal(await code({ ip: '10.231.0.100/24', nic: 'lo', announce: 'loud' }), OCF.ERR_CONFIGURED);
  for (const leaseMs of ['abc', '39', '600001', '-5', '1.5']) assert.equal(await code({ ip: '10.231.0.100/24', nic: 'lo', leaseMs }), OCF.ERR_CONFIGURED, `leaseMs ${leaseMs}`);
  assert.equal(await code({ ip: '10.231.0.100/24', nic: 'lo', label: 'eth0:vip' }), OCF.ERR_CONFIGURED);

  const reason = await netnsUnavailable();
  if (reason) return t.skip(`needs root: ${reason}`);
  const { lab, holder, nic } = await makeLab();
  try {
    // Reads only: `ip link show` and `ip addr show` inside the lab namespace.
    assert.equal(await code({ ip: '10.231.0.100/24', nic: 'snt-nosuchnic', netns: holder }), OCF.ERR_INSTALLED);
    assert.equal(await code({ ip: 'fd00:231::100/64', nic, netns: holder }, { sendUaPath: '/nonexistent/send_ua' }), OCF.ERR_INSTALLED);
    assert.equal(await code({ ip: '10.99.0.100', netns: holder }), OCF.ERR_CONFIGURED, 'no connected subnet and no nic');
    assert.equal(await code({ ip: '10.231.0.100/24', nic, netns: holder, label: `${nic}:toolonglabel` }), OCF.ERR_CONFIGURED);
    // arping missing: PATH holds only `ip`.
    const dir = await tempDir(t, 'vip');
    await symlink((await run('sh', ['-c', 'command -v ip'])).stdout.trim(), join(dir, 'ip'));
    const savedPath = process.env['PATH'];
    process.env['PATH'] = dir;
    try {
      assert.equal(await code({ ip: '10.231.0.100/24', nic, netns: holder }), OCF.ERR_INSTALLED);
      // …and without nft the millisecond lease cannot work; with it off (the default), nothing else is missing.
      assert.equal(await code({ ip: '10.231.0.100/24', nic, netns: holder, announce: 'none', leaseMs: 400 }), OCF.ERR_INSTALLED);
      assert.equal(await code({ ip: '10.231.0.100/24', nic, netns: holder, announce: 'none' }), undefined);
      assert.equal(await code({ ip: '10.231.0.100/24', nic, netns: holder, announce: 'none', leaseMs: 0 }), undefined);
    } finally {
      process.env['PATH'] = savedPath;
    }
  } finally {
    await lab.cleanup();
  }
});

test('addresses compare by value, not by spelling', () => {
  assert.equal(toBigInt('fd00:231::100'), toBigInt('fd00:231:0:0:0:0:0:100'));
  assert.equal(toBigInt('FD00:231::100'), toBigInt('fd00:231::100'));
  assert.equal(toBigInt('::ffff:10.0.0.1'), toBigInt('::ffff:a00:1'));
  assert.equal(toBigInt('::1'), 1n);
  assert.equal(toBigInt('10.0.0.1'), (10n << 24n) + 1n);
});
