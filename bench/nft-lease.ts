/**
 * The vip agent's nftables lease, measured (docs/benchmarks.md): in two lab namespaces on a
 * veth, how long after the last renewal the kernel accepted the first unanswered TCP connect
 * from the peer comes, and the Node CPU 1,000 renewals cost.
 *
 *   node dist/bench/nft-lease.js [--trials 20] [--lease-ms 200] [--renewals 400]
 *
 * Root, nft and iproute2 needed. The prober in the peer namespace connects back to back (each
 * attempt gives up after 100 ms, so only a loaded machine, not the lease, could fail one early); the figure is the start of the first attempt that went
 * unanswered minus when the last accepted renewal was written, so it includes the pipe to nft,
 * nft's own work and the kernel's jiffy rounding, and it is late by at most one attempt (~1 ms).
 */
import { parseArgs } from 'node:util';
import { vip, type VipAgent } from '../agents/vip.js';
import { JsonLines, NetnsLab, netnsUnavailable, run } from '../test/helpers/netns.js';
import { formatTable, percentile } from './stats.js';

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '20' }, 'lease-ms': { type: 'string', default: '200' }, renewals: { type: 'string', default: '400' } },
});
const trials = Number(values.trials);
const leaseMs = Number(values['lease-ms']);
const renewals = Number(values.renewals);
const PORT = 7312;

const wallNow = (): number => performance.timeOrigin + performance.now();
const monoOffset = Number(process.hrtime.bigint()) / 1e6 - performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const reason = await netnsUnavailable();
  if (reason) throw new Error(`cannot run: ${reason}`);
  await run('nft', ['--version']).catch(() => {
    throw new Error('cannot run: nft not found (Debian package nftables)');
  });
  const lab = new NetnsLab(`snt-nb${Math.random().toString(36).slice(2, 5).padEnd(3, '0')}`);
  try {
    const holder = await lab.addNamespace('h');
    const peer = await lab.addNamespace('p');
    const nic = lab.name('vh');
    await lab.addVeth(holder, nic, peer, lab.name('vp'));
    await lab.addAddress(holder, nic, '10.233.0.1/24');
    await lab.addAddress(peer, lab.name('vp'), '10.233.0.2/24');
    const server = lab.spawn(holder, [process.execPath, '-e', `require('net').createServer((s) => s.end()).listen(${PORT}, () => console.log('{"listening":true}'))`]);
    await new JsonLines<{ listening?: boolean }>(server.stdout).waitFor('listener', (l) => l.listening === true, 10_000);

    const params = { ip: '10.233.0.100/24', nic, netns: holder, leaseMs: String(leaseMs), announce: 'none' };
    const gaps: number[] = [];
    for (let trial = 0; trial < trials; trial += 1) {
      const agent: VipAgent = vip(params);
      await agent.start({ params: {}, signal: AbortSignal.timeout(20_000) });
      const prober = lab.spawn(peer, [process.execPath, '-e', PROBER]);
      const lines = new JsonLines<{ ready?: boolean; failAt?: number; error?: string }>(prober.stdout);
      await lines.waitFor('prober ready', (l) => l.ready === true, 10_000);
      await sleep(leaseMs);
      const renewer = agent.renewerFor({})!;
      agent.haltLeases('benchmark');
      // CLOCK_MONOTONIC, which every process shares (performance.timeOrigin is read from the
      // wall clock once per process, so two processes' values can disagree by a clock step).
      const lastRenewal = (renewer.lastAckedSentMs ?? Number.NaN) + monoOffset;
      const result = await lines.waitFor('first unanswered connect', (l) => l.failAt !== undefined || l.error !== undefined, leaseMs * 10 + 5000);
      if (result.failAt === undefined) throw new Error(`prober: ${result.error}`);
      gaps.push(result.failAt - lastRenewal);
      await agent.stop({ params: {}, signal: AbortSignal.timeout(20_000) });
    }

    // CPU: the same renewer alone (the agent's own loop) for `renewals` renewals.
    const cpuAgent = vip(params);
    await cpuAgent.start({ params: {}, signal: AbortSignal.timeout(20_000) });
    const renewer = cpuAgent.renewerFor({})!;
    const ackedBefore = renewer.acked;
    const cpuBefore = process.cpuUsage();
    const started = wallNow();
    while (renewer.acked - ackedBefore < renewals && wallNow() - started < renewals * 50) await sleep(50);
    const cpu = process.cpuUsage(cpuBefore);
    const done = renewer.acked - ackedBefore;
    await cpuAgent.stop({ params: {}, signal: AbortSignal.timeout(20_000) });
    const cpuMsPer1000 = ((cpu.user + cpu.system) / 1000 / done) * 1000;
    // The floor on this machine: a timer that does nothing, so the figure above can be read.
    const idleBefore = process.cpuUsage();
    await new Promise<void>((resolve) => {
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks === 200) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    const idle = process.cpuUsage(idleBefore);
    const idleMsPer1000 = ((idle.user + idle.system) / 1000 / 200) * 1000;

    console.log(`nft lease ${leaseMs} ms, renewed every ${Math.floor(leaseMs / 4)} ms, ${trials} trials`);
    console.log(
      formatTable(
        ['measure', 'median', 'p99', 'min', 'max'],
        [['last renewal -> first unanswered connect (ms)', percentile(gaps, 50).toFixed(1), percentile(gaps, 99).toFixed(1), Math.min(...gaps).toFixed(1), Math.max(...gaps).toFixed(1)]],
      ),
    );
    console.log(`Node CPU per 1,000 renewals: ${cpuMsPer1000.toFixed(1)} ms (${done} renewals measured; an idle 10 ms interval timer costs ${idleMsPer1000.toFixed(1)} ms per 1,000 ticks here)`);
  } finally {
    await lab.cleanup();
  }
}

/** Connects back to back; prints ready after the first answer, then the start of the first attempt that timed out. */
const PROBER = `
const net = require('net');
const now = () => Number(process.hrtime.bigint()) / 1e6;
let ready = false;
const deadline = now() + 10000;
function attempt() {
  if (now() > deadline) { console.log(JSON.stringify({ error: 'no unanswered connect within 10 s' })); process.exit(0); }
  const at = now();
  const s = net.connect({ host: '10.233.0.100', port: ${PORT} });
  const timer = setTimeout(() => { s.destroy(); if (ready) { console.log(JSON.stringify({ failAt: at })); process.exit(0); } attempt(); }, 100);
  s.on('connect', () => { clearTimeout(timer); s.destroy(); if (!ready) { ready = true; console.log(JSON.stringify({ ready: true })); } setImmediate(attempt); });
  // A dropped SYN shows as a timeout; an error (a reset, a local port clash) is not the lease.
  s.on('error', () => { clearTimeout(timer); s.destroy(); setTimeout(attempt, ready ? 0 : 5); });
}
attempt();
`;

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
