/**
 * The flooder of bench/flood.ts, in its own process so its CPU is not the nodes': sends forged
 * frames (a good header of node 2 of the cluster, sealed under another key, so every one is a
 * `bad-auth` drop at the receiver) to one address at a target rate for a while, then prints
 * {"sent": N, "ms": M} on stdout.
 *
 *   node dist/bench/flood-sender.js CLUSTER HOST PORT RATE_PER_S DURATION_MS
 */
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { generateKey, Wire } from '../lib/wire/index.js';

const [cluster, host, portText, rateText, durationText] = process.argv.slice(2);
const port = Number(portText);
const rate = Number(rateText);
const durationMs = Number(durationText);
if (cluster === undefined || host === undefined || !(port > 0) || !(rate > 0) || !(durationMs > 0)) {
  console.error('usage: flood-sender CLUSTER HOST PORT RATE_PER_S DURATION_MS');
  process.exit(2);
}

const forger = new Wire({ cluster, nodeId: 2, incarnation: 1, knownNodes: [1, 2, 3], security: { mode: 'secure', key: generateKey() } });
const template = forger.seal({ type: 'mcast', seq: 0, data: Buffer.alloc(64, 0xab) })[0]!;
const socket = createSocket('udp4');
let sent = 0;
let inFlight = 0;
const start = performance.now();

/** Every millisecond, send what the rate owes by now; never more than a bounded backlog in flight. */
function pump(): void {
  const elapsed = performance.now() - start;
  if (elapsed >= durationMs) {
    const finish = (): void => {
      if (inFlight > 0) return void setTimeout(finish, 5);
      socket.close();
      process.stdout.write(`${JSON.stringify({ sent, ms: performance.now() - start })}\n`);
    };
    finish();
    return;
  }
  const owed = Math.floor((elapsed * rate) / 1000) - sent;
  for (let i = 0; i < owed && inFlight < 4096; i++) {
    const frame = Buffer.from(template);
    frame.writeUInt32BE(sent >>> 0, frame.length - 8);
    inFlight++;
    sent++;
    socket.send(frame, port, host, () => {
      inFlight--;
    });
  }
  setTimeout(pump, 1);
}
pump();
