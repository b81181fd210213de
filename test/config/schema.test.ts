import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSanodeError, type JoinClusterOptions } from '../../lib/index.js';
import { clusterFileJsonSchema } from '../../lib/config/schema.js';
import { parseClusterFile } from '../../lib/config/file.js';
import { defaultStateDir, resolveJoinOptions } from '../../lib/runtime/options.js';

const base: JoinClusterOptions = {
  cluster: 'opts',
  stateDir: '/var/lib/sanode-test/opts',
  node: { id: 1 },
  transport: { peers: ['127.0.91.1', '127.0.91.2', '127.0.91.3'], port: 5405 },
  security: 'insecure',
};

function refusal(run: () => unknown): { field: string | undefined; message: string; code: string } {
  try {
    run();
  } catch (error) {
    assert.ok(isSanodeError(error), `a SanodeError, got ${String(error)}`);
    return { field: error.field, message: error.message, code: error.code };
  }
  assert.fail('expected a refusal');
}

const options = (extra: Record<string, unknown>): JoinClusterOptions => ({ ...base, ...extra }) as JoinClusterOptions;

test("joinCluster options: a corosync spelling is refused with sanode's key", () => {
  const r = refusal(() => resolveJoinOptions(options({ quorum: { two_node: true } })));
  assert.equal(r.code, 'SANODE_INVALID_CONFIG');
  assert.equal(r.field, 'quorum.two_node');
  // As README.md quotes it.
  assert.match(r.message, /^quorum\.two_node: unknown key; did you mean 'quorum\.twoNode'\? \(known here: votes, expectedVotes, twoNode, /);
  const token = refusal(() => resolveJoinOptions(options({ token: 3000 })));
  assert.equal(token.field, 'token');
  assert.match(token.message, /did you mean 'timers\.tokenTimeoutMs'\? \(corosync's totem\.token, in milliseconds\)/);
  const bind = refusal(() => resolveJoinOptions(options({ transport: { ...base.transport, bindnetaddr: '10.0.0.0' } })));
  assert.equal(bind.field, 'transport.bindnetaddr');
  assert.match(bind.message, /transport\.peers/);
});

test('joinCluster options: a typo is refused with the nearest key, at its level or another', () => {
  const typo = refusal(() => resolveJoinOptions(options({ timers: { tokenTimoutMs: 1000 } })));
  assert.equal(typo.field, 'timers.tokenTimoutMs');
  assert.match(typo.message, /unknown key; did you mean 'timers\.tokenTimeoutMs'\?/);
  const level = refusal(() => resolveJoinOptions(options({ selfStopMs: 500 })));
  assert.match(level.message, /did you mean 'resources\.selfStopMs'\? \(it belongs under resources\)/);
  const nothing = refusal(() => resolveJoinOptions(options({ zzzzzzzz: 1 })));
  assert.doesNotMatch(nothing.message, /did you mean/);
  assert.match(nothing.message, /known here: cluster, node, transport/);
});

test('joinCluster options: values keep their field, value and fix', () => {
  const timer = refusal(() => resolveJoinOptions(options({ timers: { tokenTimeoutMs: -5 } })));
  assert.equal(timer.field, 'timers.tokenTimeoutMs');
  assert.match(timer.message, /expected a positive number of milliseconds, got -5/);
  const id = refusal(() => resolveJoinOptions(options({ transport: { nodes: [{ id: 1, addrs: ['127.0.91.1'] }, { id: 'two', addrs: ['127.0.91.2'] }] } })));
  assert.equal(id.field, 'transport.nodes[1].id');
  assert.match(id.message, /expected an integer 1\.\.65535, got 'two'/);
  const agent = refusal(() => resolveJoinOptions(options({ agents: { app: { start: async () => {} } } })));
  assert.equal(agent.field, 'agents.app');
  assert.match(agent.message, /start, stop and monitor/);
});

test('duplicate peer addresses are refused, naming both nodes', () => {
  const r = refusal(() => resolveJoinOptions(options({ transport: { peers: ['127.0.91.1', '127.0.91.2', '127.0.91.2'] } })));
  assert.equal(r.field, 'transport.peers[2]');
  assert.match(r.message, /'127\.0\.91\.2' is also node 2's address \(transport\.peers\[1\]\)/);
  // The same address with its own port is a second node on one host, which is fine.
  resolveJoinOptions(options({ transport: { peers: ['127.0.91.1:5405', '127.0.91.1:5406', '127.0.91.1:5407'] } }));
  const ids = refusal(() => resolveJoinOptions(options({ transport: { nodes: [{ id: 1, addrs: ['127.0.91.1'] }, { id: 1, addrs: ['127.0.91.2'] }] } })));
  assert.equal(ids.field, 'transport.nodes[1].id');
});

test('the state directory is absolute: a relative one is refused, the default depends on the user', () => {
  const r = refusal(() => resolveJoinOptions(options({ stateDir: 'state/node-1' })));
  assert.equal(r.field, 'stateDir');
  assert.match(r.message, /relative/);
  assert.equal(defaultStateDir('web', 2, {}, 0), '/var/lib/sanode/web/node-2');
  assert.equal(defaultStateDir('web', 2, { HOME: '/home/ops' }, 1000), '/home/ops/.local/state/sanode/web/node-2');
  assert.equal(defaultStateDir('web', 2, { HOME: '/home/ops', XDG_STATE_HOME: '/srv/state' }, 1000), '/srv/state/sanode/web/node-2');
  const none = refusal(() => defaultStateDir('web', 2, { HOME: 'relative' }, 1000));
  assert.match(none.message, /pass stateDir/);
  const { stateDir: _ignored, ...withoutStateDir } = base;
  void _ignored;
  assert.ok(resolveJoinOptions(withoutStateDir).stateDir.startsWith('/'));
});

const yamlFile = `
cluster: web
node: { id: 1 }
transport:
  peers: [127.0.91.1, 127.0.91.2, 127.0.91.3]
security: insecure
cib:
  nodes: [{ id: '1', name: node-1 }, { id: '2', name: node-2 }, { id: '3', name: node-3 }]
  resources:
    - kind: primitive
      id: web-ip
      agent: { class: sanode, type: vip }
      params: { ip: 10.0.0.100/24, leaseSeconds: 6 }
      ops: [{ name: monitor, intervalMs: 2000, timeoutMs: 5000 }]
`;

test('cluster.yaml: a valid file becomes options joinCluster accepts; YAML numbers in params become text', () => {
  const { options: fromFile } = parseClusterFile(yamlFile, '/etc/sanode/cluster.yaml');
  const resolved = resolveJoinOptions({ ...fromFile, stateDir: '/var/lib/sanode-test/x' });
  const vip = resolved.cib.resources[0]!;
  assert.equal(vip.kind === 'primitive' && vip.params?.leaseSeconds, '6');
});

test('cluster.yaml: a typo or a corosync key is refused with the suggestion', () => {
  const typo = refusal(() => parseClusterFile(yamlFile.replace('cluster: web', 'clustr: web')));
  assert.equal(typo.field, 'clustr');
  assert.match(typo.message, /did you mean 'cluster'\?/);
  const corosync = refusal(() => parseClusterFile(`${yamlFile}quorum:\n  two_node: true\n`));
  assert.equal(corosync.field, 'quorum.two_node');
  assert.match(corosync.message, /did you mean 'quorum\.twoNode'\?/);
  const op = refusal(() => parseClusterFile(yamlFile.replace('intervalMs: 2000', 'interval: 2000')));
  assert.equal(op.field, 'cib.resources[0].ops[0].interval');
  assert.match(op.message, /did you mean 'cib\.resources\[0\]\.ops\[0\]\.intervalMs'\?/);
  const pcmk = refusal(() => parseClusterFile(`${yamlFile}  properties: { no-quorum-policy: stop }\n`));
  assert.match(pcmk.message, /did you mean 'cib\.properties\.noQuorumPolicy'\?/);
});

test('cluster.yaml: broken YAML and a key written twice name the line', () => {
  const twice = refusal(() => parseClusterFile('cluster: a\ncluster: b\n', 'c.yaml'));
  assert.equal(twice.field, 'c.yaml:2');
  const broken = refusal(() => parseClusterFile('cluster: [a\n', 'c.yaml'));
  assert.match(broken.message, /not valid YAML/);
});

test('the JSON Schema of cluster.yaml refuses unknown keys and is the one shipped in schema/', () => {
  const schema = clusterFileJsonSchema() as { additionalProperties?: unknown; properties: Record<string, unknown>; required: string[] };
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required.sort(), ['cluster', 'node', 'transport']);
  assert.ok('cib' in schema.properties && 'admin' in schema.properties && !('tieBreakerCheck' in schema.properties));
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const shipped = JSON.parse(readFileSync(join(root, 'schema', 'cluster.schema.json'), 'utf8')) as unknown;
  assert.deepEqual(shipped, schema, 'schema/cluster.schema.json is stale: run `node dist/lib/cli/main.js config schema > schema/cluster.schema.json`');
});
