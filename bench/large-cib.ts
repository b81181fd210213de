/**
 * A large CIB end to end (issue 12, item 2): N resources with parameters written in one
 * replace-config through node 1 of three, replicated to node 2, transferred whole to node 3
 * started with an empty state directory, then every node left and restarted from its disk.
 * Prints the CIB's size on disk and the time of each step.
 *
 *   npm run build && node dist/bench/large-cib.js [--resources 5000] [--param-bytes 2000]
 *
 * The defaults make a CIB of about 10 MiB. Nodes run in this one process on loopback
 * (127.0.129.1-3, port 5521), secure wire, no resource agents; every wait is bounded.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { generateKey, joinCluster, type Cluster, type CibConfig, type JoinClusterOptions, type ResourceConfig } from '../lib/index.js';

const { values } = parseArgs({ options: { resources: { type: 'string', default: '5000' }, 'param-bytes': { type: 'string', default: '2000' } } });
const RESOURCES = Number(values.resources);
const PARAM_BYTES = Number(values['param-bytes']);
const WAIT_MS = 600_000;
const peers = ['127.0.129.1', '127.0.129.2', '127.0.129.3'];
const key = generateKey();
const root = mkdtempSync(join(tmpdir(), 'sanode-large-cib-'));

const options = (id: number): JoinClusterOptions => ({
  cluster: 'large-cib',
  node: { id },
  transport: { peers, port: 5521 },
  key,
  stateDir: join(root, `n${id}`),
  resources: { manage: false },
});

async function until(what: string, done: () => boolean): Promise<void> {
  console.error(`waiting: ${what}`);
  const deadline = performance.now() + WAIT_MS;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sameVersion = (a: Cluster, b: Cluster): boolean => JSON.stringify(a.cib().version) === JSON.stringify(b.cib().version);

async function main(): Promise<void> {
  const figures: Record<string, number | string> = { resources: RESOURCES, paramBytes: PARAM_BYTES };
  let nodes: Cluster[] = [await joinCluster(options(1)), await joinCluster(options(2))];
  try {
    const [a, b] = nodes as [Cluster, Cluster];
    await until('a quorate view of nodes 1 and 2', () => nodes.every((n) => n.status().quorum.quorate && n.view?.members.length === 2));
    const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;
    const resources: ResourceConfig[] = Array.from({ length: RESOURCES }, (_, i) => ({
      kind: 'primitive',
      id: `r${i}`,
      agent,
      params: { data: `${i}:`.padEnd(PARAM_BYTES, 'p') },
    }));
    const config: CibConfig = { ...a.cib().cib.config, resources };

    let t = performance.now();
    await a.updateCib({ op: 'replace-config', config });
    figures['writeMs'] = Math.round(performance.now() - t);
    await until('node 2 applied the config', () => sameVersion(a, b));
    figures['replicatedMs'] = Math.round(performance.now() - t);
    figures['cibJsonBytes'] = statSync(join(root, 'n1', 'cib.json')).size;

    t = performance.now();
    const c = await joinCluster(options(3));
    nodes.push(c);
    await until('node 3 (empty state) synced', () => c.cib().synced && sameVersion(a, c));
    figures['joinerTransferMs'] = Math.round(performance.now() - t);

    const version = JSON.stringify(a.cib().version);
    await Promise.all(nodes.map((n) => n.leave()));
    t = performance.now();
    nodes = await Promise.all([1, 2, 3].map((id) => joinCluster(options(id))));
    await until('every node back, synced at the same version', () =>
      nodes.every((n) => n.cib().synced && JSON.stringify(n.cib().version) === version && n.cib().cib.config.resources.length === RESOURCES),
    );
    figures['restartAllMs'] = Math.round(performance.now() - t);
    console.log(JSON.stringify(figures));
  } finally {
    await Promise.allSettled(nodes.map((n) => n.leave()));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
