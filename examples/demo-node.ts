/**
 * One node of the demo cluster: a service that joins the cluster with `joinCluster`, runs a
 * leader-only job, and offers an HTTP service that the cluster keeps running on exactly one node
 * (a resource with an inline agent). This is the whole integration a Node service needs.
 */
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { joinCluster, type CibConfig } from '../lib/index.js';
import type { ResourceAgent } from '../agents/index.js';

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

// The service this node offers when the cluster puts it here: an HTTP server on this node's
// address. An agent is just start/stop/monitor; the cluster decides where and when they run.
let server: Server | undefined;
const address = config.nodes.find((n) => n.id === config.nodeId)!.addrs[0]!;
const web: ResourceAgent = {
  async start() {
    if (server !== undefined) return;
    const s = createServer((_req, res) => res.end(`served by node ${config.nodeId}\n`));
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(8080, address, resolve));
    server = s;
  },
  async stop() {
    const s = server;
    server = undefined;
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  },
  async monitor() {
    return server?.listening === true ? 'running' : 'not-running';
  },
};
const cib: CibConfig = {
  nodes: config.nodes.map((n) => ({ id: String(n.id), name: `node-${n.id}` })),
  rscDefaults: { resourceStickiness: 100 },
  resources: [{ kind: 'primitive', id: 'web', agent: { class: 'sanode', type: 'web' }, ops: [{ name: 'monitor', intervalMs: 1000, timeoutMs: 5000 }] }],
};

const cluster = await joinCluster({
  cluster: 'demo',
  node: { id: config.nodeId },
  transport: { nodes: config.nodes, port: config.port },
  key: Buffer.from(config.key, 'hex'),
  stateDir: config.stateDir,
  profile: 'lan',
  cib,
  agents: { web },
});
cluster.on('resource', (r) => {
  if (r.op === 'start' || r.op === 'stop') say({ ev: 'resource', rsc: r.rsc, op: r.op, rc: r.rc });
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
