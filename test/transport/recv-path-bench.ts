/**
 * Measures what the promise-based receive loop of dgram-as-promised costs against the raw
 * socket's 'message' event, to decide (and document in docs/transport.md) which one
 * lib/transport uses. Not a test: run it by hand.
 *
 *   node .build/transport/test/transport/recv-path-bench.js [datagrams] [bytes]
 *
 * A worker thread blasts datagrams at 127.0.0.1 in bursts; the main thread receives them with
 * one of the two loops and reports datagrams received, and busy event-loop time per datagram
 * (eventLoopUtilization of the receiving thread only, so the sender's cost is not counted).
 */
import DgramAsPromised from 'dgram-as-promised';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const senderSource = `
const { workerData, parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const socket = dgram.createSocket('udp4');
const payload = Buffer.alloc(workerData.bytes, 7);
let sent = 0;
function burst() {
  for (let i = 0; i < 32 && sent < workerData.count; i++, sent++) socket.send(payload, workerData.port, '127.0.0.1');
  if (sent < workerData.count) setImmediate(burst);
  else setTimeout(() => { socket.close(); parentPort.postMessage('done'); }, 200);
}
burst();
`;

type Mode = 'promise' | 'event';

async function run(mode: Mode, count: number, bytes: number): Promise<void> {
  const receiver = DgramAsPromised.createSocket('udp4');
  const { port } = await receiver.bind(0, '127.0.0.1');
  try {
    receiver.setRecvBufferSize(8 * 1024 * 1024);
  } catch {
    // rmem_max caps it; the comparison stays fair because both modes get the same buffer.
  }
  let received = 0;
  let receivedBytes = 0;
  const consume = (msg: Buffer): void => {
    received += 1;
    receivedBytes += msg.length;
  };
  let loop: Promise<void> = Promise.resolve();
  if (mode === 'event') {
    receiver.socket.on('message', consume);
  } else {
    loop = (async () => {
      for await (const packet of receiver) consume(packet.msg);
    })();
  }
  const eluStart = performance.eventLoopUtilization();
  const startMs = performance.now();
  const worker = new Worker(senderSource, { eval: true, workerData: { port, count, bytes } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const elapsedMs = performance.now() - startMs - 200;
  const elu = performance.eventLoopUtilization(eluStart);
  await worker.terminate();
  await receiver.close();
  await loop;
  const busyUsPerDatagram = received > 0 ? (elu.active * 1000) / received : NaN;
  console.log(
    JSON.stringify({
      mode,
      sent: count,
      received,
      lossPct: Number((100 * (1 - received / count)).toFixed(2)),
      receivedPerSec: Math.round(received / (elapsedMs / 1000)),
      busyUsPerDatagram: Number(busyUsPerDatagram.toFixed(3)),
      receivedBytes,
    }),
  );
}

const count = Number(process.argv[2] ?? 200_000);
const bytes = Number(process.argv[3] ?? 200);
for (let round = 0; round < 3; round++) {
  await run('promise', count, bytes);
  await run('event', count, bytes);
}
