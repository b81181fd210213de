/**
 * One node of the demo cluster. It joins the group over UDP on loopback and runs a
 * "leader job" while it is the lowest node id of a view that holds a majority of the nodes.
 * (The full coordinator with votequorum options and epochs replaces this rule in a later step.)
 */
import { performance } from 'node:perf_hooks';
import { TotemRuntime } from '../lib/runtime/totem-runtime.js';

interface DemoNodeConfig {
  nodeId: number;
  nodes: { id: number; addrs: string[] }[];
  port: number;
  stateDir: string;
  key: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as DemoNodeConfig;
const me = config.nodes.find((n) => n.id === config.nodeId)!;
const say = (event: object): void => {
  process.stdout.write(`${JSON.stringify({ ...event, node: config.nodeId, atMs: performance.timeOrigin + performance.now() })}\n`);
};

const runtime = await TotemRuntime.start({
  nodeId: config.nodeId,
  stateDir: config.stateDir,
  profile: 'lan',
  net: {
    wire: { cluster: 'demo', security: { mode: 'secure', key: Buffer.from(config.key, 'hex') } },
    links: [{ mode: 'udpu', bindAddr: me.addrs[0]!, port: config.port }],
    nodes: config.nodes,
  },
});

let leading = false;
let jobTimer: NodeJS.Timeout | undefined;
runtime.on('view', (view) => {
  const quorate = view.members.length * 2 > config.nodes.length;
  say({ ev: 'view', seq: view.id.seq, members: view.members, quorate });
  const shouldLead = quorate && view.members[0] === config.nodeId;
  if (shouldLead && !leading) {
    leading = true;
    say({ ev: 'leader-start' });
    let beats = 0;
    jobTimer = setInterval(() => say({ ev: 'leader-work', beat: (beats += 1) }), 500);
  } else if (!shouldLead && leading) {
    leading = false;
    clearInterval(jobTimer);
    say({ ev: 'leader-stop' });
  }
});
process.on('SIGTERM', () => void runtime.leave().then(() => process.exit(0)));
say({ ev: 'started' });
