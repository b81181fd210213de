/**
 * One node of the demo cluster: a service that joins the cluster with `joinCluster` and runs a
 * leader-only job. This is the whole integration a Node service needs.
 */
import { performance } from 'node:perf_hooks';
import { joinCluster } from '../lib/index.js';

interface DemoNodeConfig {
  nodeId: number;
  nodes: { id: number; addrs: string[] }[];
  port: number;
  stateDir: string;
  key: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as DemoNodeConfig;
const say = (event: object): void => {
  process.stdout.write(`${JSON.stringify({ ...event, node: config.nodeId, atMs: performance.timeOrigin + performance.now() })}\n`);
};

const cluster = await joinCluster({
  cluster: 'demo',
  node: { id: config.nodeId },
  transport: { nodes: config.nodes, port: config.port },
  key: Buffer.from(config.key, 'hex'),
  stateDir: config.stateDir,
  profile: 'lan',
});

cluster.on('view', (view) => say({ ev: 'view', seq: view.id.seq, members: view.members }));
cluster.on('quorum', (q) => say({ ev: 'quorum', quorate: q.quorate, reason: q.reason }));

// Runs on exactly one node of the quorate partition; `signal` aborts when that stops being true.
cluster.onLeader(async ({ epoch, signal }) => {
  say({ ev: 'leader-start', epoch });
  let beats = 0;
  while (!signal.aborted) {
    say({ ev: 'leader-work', beat: (beats += 1), epoch });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  say({ ev: 'leader-stop', epoch });
});

process.on('SIGTERM', () => void cluster.leave().then(() => process.exit(0)));
const joined = cluster.status();
say({ ev: 'joined', seq: joined.view?.id.seq, members: joined.view?.members, quorate: joined.quorum.quorate });
