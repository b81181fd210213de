/**
 * Shared pieces of the transport tests (not a test file itself).
 */
import dgram from 'node:dgram';
import { generateKey } from '../../lib/wire/index.js';
import { ClusterNet, type ClusterNetOptions, type LinkConfig, type NodeAddress } from '../../lib/transport/index.js';

export { generateKey };

/**
 * Ports the OS calls free right now, found by binding port 0. All sockets stay open until every
 * port is chosen so the list has no repeats; a race with another process is possible but rare,
 * and shows up as SANODE_PORT_IN_USE, not as a silent misroute.
 */
export async function freeUdpPorts(count: number, address: string): Promise<number[]> {
  const sockets: dgram.Socket[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, address, () => resolve());
      });
    }
    return sockets.map((socket) => socket.address().port);
  } finally {
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }
}

/** Polls `predicate` every 5 ms for at most `timeoutMs`; throws with `what` when time runs out. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface Received {
  from: number;
  message: unknown;
  incarnation: number;
}

export interface TestNode {
  net: ClusterNet;
  received: Received[];
}

/**
 * Opens one ClusterNet per node id, all sharing `links(nodeId)` shape and the same key, and
 * records what each receives. Closes the ones it opened if any open fails.
 */
export async function openCluster(
  ids: readonly number[],
  linksOf: (id: number) => LinkConfig[],
  nodes: NodeAddress[],
  extra: Partial<ClusterNetOptions> = {},
): Promise<Map<number, TestNode>> {
  const key = generateKey();
  const cluster = new Map<number, TestNode>();
  try {
    for (const id of ids) {
      const net = await ClusterNet.open({
        wire: { cluster: 'transport-test', nodeId: id, incarnation: 1, security: { mode: 'secure', key }, knownNodes: ids },
        links: linksOf(id),
        nodes,
        ...extra,
      });
      const node: TestNode = { net, received: [] };
      net.on('message', (from, message, incarnation) => node.received.push({ from, message, incarnation }));
      cluster.set(id, node);
    }
  } catch (error) {
    await closeCluster(cluster);
    throw error;
  }
  return cluster;
}

export async function closeCluster(cluster: Map<number, TestNode>): Promise<void> {
  await Promise.all([...cluster.values()].map((node) => node.net.close()));
}

export function allHealthy(net: ClusterNet): boolean {
  return net.linkStatus().every((link) => link.peers.every((peer) => peer.healthy));
}
