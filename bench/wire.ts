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
import { aeadDecryptThrowFree } from '../lib/wire/sodium.js';

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

/**
 * What open() costs per frame for each thing an outsider can send, against an accepted frame.
 * A forged frame (a good header, random ciphertext) must cost no more than a real one, or a
 * flood of forgeries is the cheapest way to load a node.
 */
function openCosts(): void {
  const key = generateKey();
  const common = { cluster: 'bench', incarnation: 1, knownNodes: [1, 2], security: { mode: 'secure', key } as const };
  const sender = new Wire({ ...common, nodeId: 1 });
  const message = { type: 'mcast', seq: 0, data: Buffer.alloc(64, 0xab) };
  const batch = 20_000;
  /** Median µs per open() over TRIALS batches; `frames` makes one batch's frames. */
  const cost = (frames: () => Buffer[], expect: string): number => {
    const perFrameUs: number[] = [];
    for (let t = 0; t < TRIALS + 1; t++) {
      const receiver = new Wire({ ...common, nodeId: 2 });
      const input = frames();
      const start = process.hrtime.bigint();
      let nowMs = 0;
      for (const frame of input) {
        const result = receiver.open(frame, nowMs++);
        const outcome = result.kind === 'dropped' ? result.reason : result.kind;
        if (outcome !== expect) throw new Error(`bench frame gave ${outcome}, expected ${expect}`);
      }
      // The first batch warms the JIT and is not counted.
      if (t > 0) perFrameUs.push(Number(process.hrtime.bigint() - start) / 1000 / input.length);
    }
    return median(perFrameUs);
  };
  const legit = (): Buffer[] => Array.from({ length: batch }, () => (message.seq++, sender.seal(message)[0]!));
  const template = sender.seal(message)[0]!;
  const forged = (): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < batch; i++) {
      const frame = Buffer.from(template);
      for (let j = 28; j < frame.length; j++) frame[j] = (i * 31 + j * 17) & 0xff;
      out.push(frame);
    }
    return out;
  };
  const garbage = (): Buffer[] => Array.from({ length: batch }, (_, i) => Buffer.alloc(template.length, i & 0xff));
  const otherCluster = new Wire({ ...common, cluster: 'other', nodeId: 1 });
  const stranger = new Wire({ ...common, nodeId: 9, knownNodes: [2, 9] });
  const rows: [string, number][] = [
    ['accepted (64 B message)', cost(legit, 'message')],
    ['bad-auth (good header, random ciphertext)', cost(forged, 'bad-auth')],
    ['malformed (garbage)', cost(garbage, 'malformed')],
    ["wrong-cluster (another cluster's frame)", cost(() => Array.from({ length: batch }, () => otherCluster.seal(message)[0]!), 'wrong-cluster')],
    ["unknown-node (a node outside the list)", cost(() => Array.from({ length: batch }, () => stranger.seal(message)[0]!), 'unknown-node')],
  ];
  const accepted = rows[0]![1];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`\nopen() cost per frame, secure, median of ${TRIALS} batches of ${format(batch)} frames`);
  console.log(`the failed-tag path is ${aeadDecryptThrowFree ? 'throw-free (native binding)' : 'the throwing one (binding unavailable)'}\n`);
  console.log(`${'frame'.padEnd(width)}  ${'µs/frame'.padStart(8)}  ${'÷ accepted'.padStart(10)}`);
  for (const [name, us] of rows) console.log(`${name.padEnd(width)}  ${format(us, 2).padStart(8)}  ${`${format(us / accepted, 2)}x`.padStart(10)}`);
}

openCosts();
