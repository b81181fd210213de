/**
 * Throughput of the wire layer: seal + open (msgpack encode, encrypt, decrypt, decode) against
 * plain msgpackr encode + decode of the same message, so the cost of security is visible.
 *
 *   npm run build && node dist/bench/wire.js [--trials 5] [--ms 400]
 *
 * Each cell is the median of several timed trials; a trial runs as many round trips as fit in
 * its time budget. The message is { type, seq, data: <payload bytes> }.
 */
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { generateKey, Wire } from '../lib/wire/index.js';

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '5' }, ms: { type: 'string', default: '400' } },
});
const TRIALS = Number(values.trials);
const TRIAL_MS = Number(values.ms);
const PAYLOAD_SIZES = [64, 1024, 16 * 1024];

interface Rate {
  framesPerS: number;
  messagesPerS: number;
  mbPerS: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `roundTrip` for about TRIAL_MS, TRIALS times; returns median rates. */
function measure(payloadBytes: number, roundTrip: () => number): Rate {
  for (let i = 0; i < 200; i++) roundTrip(); // warm up the JIT
  const frames: number[] = [];
  const messages: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    let count = 0;
    let frameCount = 0;
    const start = process.hrtime.bigint();
    const budgetNs = BigInt(TRIAL_MS) * 1_000_000n;
    let elapsedNs = 0n;
    while (elapsedNs < budgetNs) {
      for (let i = 0; i < 50; i++) frameCount += roundTrip();
      count += 50;
      elapsedNs = process.hrtime.bigint() - start;
    }
    const seconds = Number(elapsedNs) / 1e9;
    messages.push(count / seconds);
    frames.push(frameCount / seconds);
  }
  const messagesPerS = median(messages);
  return { framesPerS: median(frames), messagesPerS, mbPerS: (messagesPerS * payloadBytes) / 1e6 };
}

function wirePair(secure: boolean): { sender: Wire; receiver: Wire } {
  const key = generateKey();
  const security = secure ? ({ mode: 'secure', key } as const) : ({ mode: 'insecure' } as const);
  const common = { cluster: 'bench', incarnation: 1, security, knownNodes: [1, 2] };
  return { sender: new Wire({ ...common, nodeId: 1 }), receiver: new Wire({ ...common, nodeId: 2 }) };
}

function wireRoundTrip(pair: { sender: Wire; receiver: Wire }, message: { seq: number }): () => number {
  let nowMs = 0;
  return () => {
    message.seq++;
    const frames = pair.sender.seal(message);
    let delivered = false;
    for (const frame of frames) delivered = pair.receiver.open(frame, nowMs).kind === 'message' || delivered;
    if (!delivered) throw new Error('bench message was not delivered');
    nowMs++;
    return frames.length;
  };
}

const format = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const rows: string[][] = [];
for (const size of PAYLOAD_SIZES) {
  const message = { type: 'mcast', seq: 0, data: Buffer.alloc(size, 0xab) };
  const packr = new Packr({ useRecords: false });
  const plain = measure(size, () => {
    message.seq++;
    packr.unpack(packr.pack(message));
    return 1;
  });
  const secure = measure(size, wireRoundTrip(wirePair(true), message));
  const insecure = measure(size, wireRoundTrip(wirePair(false), message));
  const cost = plain.messagesPerS / secure.messagesPerS;
  for (const [name, rate] of [['msgpackr only', plain], ['wire insecure', insecure], ['wire secure', secure]] as const) {
    rows.push([
      `${size} B`,
      name,
      format(rate.messagesPerS),
      name === 'msgpackr only' ? '-' : format(rate.framesPerS),
      format(rate.mbPerS, 1),
      name === 'wire secure' ? `${format(cost, 2)}x` : '',
    ]);
  }
}

const header = ['payload', 'path', 'messages/s', 'frames/s', 'MB/s', 'security cost'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`wire bench: seal+open round trips, median of ${TRIALS} trials of ${TRIAL_MS} ms, node ${process.version}`);
console.log('security cost = msgpackr-only messages/s divided by wire-secure messages/s\n');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows) console.log(line(row));
