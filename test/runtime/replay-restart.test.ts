import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TotemRuntime } from '../../lib/runtime/totem-runtime.js';
import { generateKey, Wire } from '../../lib/wire/index.js';

/**
 * Replay protection survives the receiver's restart (issue 12, item 3): authentic frames of a
 * peer's earlier incarnation, captured before the receiver restarted, are dropped as replays
 * afterwards and do not make the dead incarnation's link look up. Loopback 127.0.122.x only.
 */
const CLUSTER = 'replay-restart';
const port = 5451;
const receiverAddr = '127.0.122.1';
const peerAddr = '127.0.122.2';
const key = generateKey();
const WAIT_MS = 10_000;

function startReceiver(stateDir: string): Promise<TotemRuntime> {
  return TotemRuntime.start({
    nodeId: 1,
    stateDir,
    net: {
      wire: { cluster: CLUSTER, security: { mode: 'secure', key } },
      links: [{ mode: 'udpu', bindAddr: receiverAddr, port }],
      nodes: [
        { id: 1, addrs: [receiverAddr] },
        { id: 2, addrs: [peerAddr] },
      ],
    },
  });
}

/** Frames node 2 would send in the given incarnation: a few link pings, as a capture holds them. */
function framesOf(incarnation: number, count: number): Buffer[] {
  const wire = new Wire({ cluster: CLUSTER, nodeId: 2, incarnation, security: { mode: 'secure', key }, knownNodes: [1, 2] });
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(...wire.seal([1, 0]));
  return frames;
}

async function deliver(socket: Socket, receiver: TotemRuntime, frames: Buffer[]): Promise<void> {
  const before = receiver.netStats().wire.received;
  for (const frame of frames) await new Promise<void>((resolve, reject) => socket.send(frame, port, receiverAddr, (e) => (e ? reject(e) : resolve())));
  const deadline = Date.now() + WAIT_MS;
  while (receiver.netStats().wire.received < before + frames.length) {
    assert.ok(Date.now() < deadline, 'the receiver read every datagram sent to it');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function peerHealthy(receiver: TotemRuntime): boolean {
  return receiver.status().links[0]!.peers.find((p) => p.node === 2)?.healthy === true;
}

test("a peer's earlier incarnation, replayed after the receiver restarts, is dropped as a replay", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'sanode-replay-'));
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(port + 1, peerAddr, resolve));
  let receiver = await startReceiver(stateDir);
  try {
    const captured = framesOf(1_000, 5);
    await deliver(socket, receiver, captured.slice(0, 2));
    assert.equal(receiver.netStats().wire.accepted, 2, 'the first incarnation is live and accepted');
    // Node 2 restarts: its new incarnation is seen (and, with the fix, remembered).
    const live = framesOf(2_000, 2);
    await deliver(socket, receiver, live.slice(0, 1));
    assert.equal(receiver.netStats().wire.accepted, 3);
    assert.match(readFileSync(join(stateDir, 'peer-incarnations.json'), 'utf8'), /2000/);

    await receiver.close();
    receiver = await startReceiver(stateDir);
    await deliver(socket, receiver, captured);
    const stats = receiver.netStats().wire;
    assert.equal(stats.accepted, 0, 'no frame of the old incarnation is accepted after the restart');
    assert.equal(stats.dropped.replay, captured.length);
    assert.equal(peerHealthy(receiver), false, "the dead incarnation's link does not look up");

    // The peer's live incarnation goes on, and a later restart of it is accepted too.
    await deliver(socket, receiver, live.slice(1).concat(framesOf(3_000, 1)));
    assert.equal(receiver.netStats().wire.accepted, 1 + 1);
  } finally {
    await receiver.close();
    socket.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
