/**
 * The lab of the vip agent tests: two namespaces on one veth, a VIP holder and a peer that
 * watches it (its neighbour table, its TCP connects), with an IPv4 and an IPv6 subnet.
 */
import { JsonLines, NetnsLab, run } from './netns.js';

export interface VipLab {
  lab: NetnsLab;
  holder: string;
  peer: string;
  /** The holder's end of the veth. */
  nic: string;
  peerNic: string;
  /** The MAC of `nic`, which the peer should learn for the VIP. */
  mac: string;
}

export interface VipLabOptions {
  /** The lab's prefix (default: NetnsLab's own), so each test file's leftovers are told apart. */
  readonly prefix?: string;
  /** The subnets are 10.N.0.0/24 and fd00:N::/64; the holder is .1 and ::1, the peer .2 and ::2. */
  readonly net: number;
  /** Start a TCP listener on every holder address at this port (it closes each connection at once). */
  readonly listenPort?: number;
}

/**
 * Builds the lab. A lab whose set-up fails half way is cleaned up here, because the caller's
 * finally never sees it; after that the caller owns `lab.cleanup()`.
 */
export async function makeVipLab(options: VipLabOptions): Promise<VipLab> {
  const lab = new NetnsLab(options.prefix);
  try {
    return await setUp(lab, options);
  } catch (error) {
    await lab.cleanup();
    throw error;
  }
}

async function setUp(lab: NetnsLab, { net, listenPort }: VipLabOptions): Promise<VipLab> {
  const holder = await lab.addNamespace('h');
  const peer = await lab.addNamespace('p');
  const nic = lab.name('vh');
  const peerNic = lab.name('vp');
  await lab.addVeth(holder, nic, peer, peerNic);
  await lab.addAddress(holder, nic, `10.${net}.0.1/24`);
  await lab.addAddress(peer, peerNic, `10.${net}.0.2/24`);
  await lab.addAddress(holder, nic, `fd00:${net}::1/64`);
  await lab.addAddress(peer, peerNic, `fd00:${net}::2/64`);
  const link = JSON.parse((await run('ip', ['-n', holder, '-j', 'link', 'show', 'dev', nic])).stdout) as { address: string }[];
  if (listenPort !== undefined) {
    const server = lab.spawn(holder, [process.execPath, '-e', `require('net').createServer((s) => s.end()).listen(${listenPort}, '::', () => console.log(JSON.stringify({ listening: true })))`]);
    await new JsonLines<{ listening?: boolean }>(server.stdout).waitFor('listener', (line) => line.listening === true, 10_000);
  }
  return { lab, holder, peer, nic, peerNic, mac: link[0]!.address };
}
