import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessCluster } from './process-cluster.js';
import type { CibConfig, JoinClusterOptions } from '../../lib/index.js';

/**
 * What the process tests of the resource layer share: a group of in-process dummies (monitored
 * every second) and a cluster of `joinCluster` processes on loopback, named as the test says.
 */
const fixture = join(dirname(fileURLToPath(import.meta.url)), 'cluster-process.js');

/** Group `id` of `sanode:dummy` members, in order, each monitored every second. */
export function dummyGroup(id: string, members: readonly string[]): CibConfig['resources'][number] {
  return {
    kind: 'group',
    id,
    members: members.map((m) => ({
      kind: 'primitive' as const,
      id: m,
      agent: { class: 'sanode' as const, type: 'dummy' },
      params: { name: m },
      ops: [{ name: 'monitor' as const, intervalMs: 1000, timeoutMs: 5000 }],
    })),
  };
}

/**
 * One process per entry of `names` (node N is names[N-1]; undefined: the default name), on the
 * `lan` profile, secure wire, each with `cib` and any `extra` options.
 */
export function resourceCluster(o: {
  cluster: string;
  addressBase: number;
  names: readonly (string | undefined)[];
  cib: CibConfig;
  extra?: Partial<JoinClusterOptions>;
}): ProcessCluster {
  return new ProcessCluster(o.names.length, {
    fixture,
    addressBase: o.addressBase,
    configFor: (id, common) => ({
      options: {
        cluster: o.cluster,
        node: o.names[id - 1] === undefined ? { id } : { id, name: o.names[id - 1] },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile: 'lan',
        cib: o.cib,
        ...o.extra,
      },
    }),
  });
}
