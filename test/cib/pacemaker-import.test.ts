import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configCommand, importPacemakerCommand } from '../../lib/cli/config-import.js';
import { INFINITY, listPrimitives, type CibConfig, type Constraint } from '../../lib/cib/model.js';
import { importPacemakerXml, parseDurationMs, type ImportNote } from '../../lib/cib/pacemaker-import.js';
import { CibError } from '../../lib/cib/validate.js';
import { toPacemakerXml } from '../scheduler/pacemaker.js';
import { generateScenario } from '../scheduler/scenarios.js';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}
const fixture = join(repoRoot(), 'test/cib/fixtures/web-nfs-cib.xml');

/**
 * The test converter writes what crm_simulate needs, which differs from the scenario in ways that
 * are not the importer's business: every agent is ocf:pacemaker:Dummy (Stateful in promotable
 * clones), and defaults are spelled out (kind="Mandatory", symmetrical="true", boolean-op="and").
 * Both sides are brought to that one spelling before comparing.
 */
function canonical(config: CibConfig): CibConfig {
  const c = structuredClone(config);
  for (const info of listPrimitives(c)) {
    info.primitive.agent = { class: 'ocf', provider: 'pacemaker', type: info.clone?.meta?.promotable === true ? 'Stateful' : 'Dummy' };
  }
  c.constraints = (c.constraints ?? []).map((k): Constraint => {
    if (k.kind === 'order') {
      const { orderKind, symmetrical, ...rest } = k;
      return { ...rest, ...(orderKind === 'Optional' ? { orderKind } : {}), ...(symmetrical === false ? { symmetrical } : {}) };
    }
    if (k.kind === 'location' && k.rules !== undefined) {
      return { ...k, rules: k.rules.map(({ booleanOp, ...r }) => ({ ...r, ...(booleanOp === 'or' ? { booleanOp } : {}) })) };
    }
    return k;
  });
  return c;
}

/** What the converter adds for crm_simulate's sake and the importer must report, not import. */
function expectedNote(n: ImportNote): boolean {
  return (
    n.severity === 'info' ||
    // Scenarios with noQuorumPolicy ignore or freeze round-trip it, with the warning it deserves.
    (n.severity === 'warn' && /no-quorum-policy=(ignore|freeze) is carried over/.test(n.message)) ||
    (n.at === 'crm_config/cluster_property_set/startup-fencing' && /startup-fencing/.test(n.message)) ||
    (n.at === 'resources/primitive[sanode-fence]' && /fence devices/.test(n.message))
  );
}

describe('import-pacemaker', () => {
  it('round trip: sanode config -> Pacemaker XML -> import gives the same config (resource sets and op defaults as pcs writes them), for 200 seeded scenarios', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const s = generateScenario(seed);
      const xml = toPacemakerXml(s.cib, s.quorate, s.sets);
      const { config, notes } = importPacemakerXml(xml);
      assert.deepEqual(canonical(config), canonical(s.cib.config), `seed ${seed}`);
      const unexpected = notes.filter((n) => !expectedNote(n));
      assert.deepEqual(unexpected, [], `seed ${seed}: unexpected notes`);
      if (s.cib.config.properties?.stonithEnabled !== false) assert.ok(notes.some((n) => n.at === 'resources/primitive[sanode-fence]'), `seed ${seed}: fence device not reported`);
    }
  });

  it('the web + NFS fixture (a cibadmin -Q of the seeds\' crm configure) imports with every loss reported', () => {
    const { config, notes } = importPacemakerXml(readFileSync(fixture, 'utf8'));
    assert.deepEqual(config.properties, { stonithEnabled: false, noQuorumPolicy: 'ignore' });
    assert.deepEqual(config.rscDefaults, { resourceStickiness: 100, migrationThreshold: 3, failureTimeoutMs: 600_000 });
    assert.deepEqual(config.nodes, [
      { id: '1', name: 'node1', attributes: { rack: 'a' } },
      { id: '2', name: 'node2', attributes: { rack: 'b' } },
    ]);
    const group = config.resources[0]!;
    assert.equal(group.kind, 'group');
    assert.equal(group.id, 'webservice');
    assert.deepEqual(group.meta, { targetRole: 'Started' });
    assert.deepEqual(
      group.members.map((m) => `${m.id}=${m.agent.class}:${m.agent.provider ?? ''}:${m.agent.type}`),
      ['webip=ocf:heartbeat:IPaddr2', 'webstore=ocf:heartbeat:Filesystem', 'nfsserver=ocf:heartbeat:nfsserver', 'webserver=lsb::httpd'],
    );
    const webip = group.members[0]!;
    assert.deepEqual(webip.params, { ip: '192.168.2.100', nic: 'eth1', cidr_netmask: '24' });
    assert.deepEqual(webip.ops, [
      { name: 'monitor', intervalMs: 30_000, timeoutMs: 20_000, onFail: 'restart' },
      { name: 'start', intervalMs: 0, timeoutMs: 20_000 },
      { name: 'stop', intervalMs: 0, timeoutMs: 20_000 },
    ]);
    assert.deepEqual(group.members[1]!.ops?.find((o) => o.name === 'stop'), { name: 'stop', intervalMs: 0, timeoutMs: 60_000, onFail: 'restart' });
    const clone = config.resources[1]!;
    assert.equal(clone.kind, 'clone');
    assert.deepEqual(clone.meta, { cloneMax: 2, interleave: true });
    assert.equal(config.resources.length, 2, 'the stonith device is not imported');
    const byId = new Map((config.constraints ?? []).map((c) => [c.id, c]));
    assert.deepEqual(byId.get('location-webservice-node1-50'), { kind: 'location', id: 'location-webservice-node1-50', rsc: 'webservice', node: 'node1', score: 50 });
    assert.deepEqual(byId.get('location-webservice-connected'), {
      kind: 'location',
      id: 'location-webservice-connected',
      rsc: 'webservice',
      rules: [
        {
          score: -INFINITY,
          booleanOp: 'or',
          expressions: [
            { attribute: 'pingd', operation: 'not_defined' },
            { attribute: 'pingd', operation: 'lte', value: '0', type: 'integer' },
          ],
        },
      ],
    });
    assert.deepEqual(byId.get('colocation-webservice-ping-clone-INFINITY'), { kind: 'colocation', id: 'colocation-webservice-ping-clone-INFINITY', rsc: 'webservice', withRsc: 'ping-clone', score: INFINITY });
    assert.deepEqual(byId.get('order-webstore-webserver-old'), { kind: 'order', id: 'order-webstore-webserver-old', first: 'webstore', then: 'webserver', orderKind: 'Mandatory' });
    assert.deepEqual(byId.get('order-ping-clone-webservice-mandatory'), {
      kind: 'order',
      id: 'order-ping-clone-webservice-mandatory',
      first: 'ping-clone',
      then: 'webservice',
      orderKind: 'Mandatory',
      firstAction: 'start',
      thenAction: 'start',
    });
    // A sequential order set is its members ordered pairwise, with the set constraint's kind.
    assert.deepEqual(byId.get('order-set-1'), { kind: 'order', id: 'order-set-1', first: 'webip', then: 'webserver', orderKind: 'Optional' });
    assert.deepEqual(config.opDefaults, { timeoutMs: 30_000 });
    assert.ok(!byId.has('location-webservice-workhours'));
    const lostAt = notes.filter((n) => n.severity === 'lost').map((n) => n.at);
    assert.deepEqual(lostAt.sort(), [
      'constraints/rsc_location[location-webservice-workhours]',
      'constraints/rsc_location[location-webservice-workhours]/rule[location-webservice-workhours-rule]/date_expression[location-webservice-workhours-rule-expr]',
      'crm_config/cluster_property_set/cluster-recheck-interval',
      'resources/group[webservice]/primitive[nfsserver]/operations/op[nfsserver-notify]',
      'resources/group[webservice]/primitive[webserver]/operations/op[webserver-monitor-interval-30s]@start-delay',
      'resources/group[webservice]/primitive[webstore]/meta_attributes/allow-migrate',
      'resources/primitive[fence-ipmi]',
    ]);
    assert.ok(notes.some((n) => n.severity === 'info' && n.at === 'status'));
    assert.ok(notes.some((n) => n.severity === 'info' && /dc-version/.test(n.at)));
  });

  it('old spellings: <master>, Master/Slave roles, master-max, a constraint naming a clone member', () => {
    const xml = `<cib><configuration><crm_config/><nodes><node id="1" uname="a"/><node id="2" uname="b"/></nodes><resources>
      <master id="db-ms"><meta_attributes id="m"><nvpair id="m1" name="master-max" value="1"/></meta_attributes>
        <primitive id="db" class="ocf" provider="linbit" type="drbd"><operations>
          <op id="o1" name="monitor" interval="29s" role="Master" timeout="PT30S"/><op id="o2" name="monitor" interval="31s" role="Slave"/>
        </operations></primitive></master>
      <primitive id="fs" class="ocf" provider="heartbeat" type="Filesystem"/></resources><constraints>
      <rsc_colocation id="fs-on-db" rsc="fs" with-rsc="db" with-rsc-role="Master" score="INFINITY"/>
      <rsc_order id="db-then-fs" first="db-ms" first-action="promote" then="fs" then-action="start"/>
      <rsc_location id="db-prefers" rsc="db-ms" role="Master" node="a" score="+INFINITY"/></constraints></configuration></cib>`;
    const { config, notes } = importPacemakerXml(xml);
    const ms = config.resources[0]!;
    assert.equal(ms.kind, 'clone');
    assert.deepEqual(ms.meta, { promotedMax: 1, promotable: true });
    assert.deepEqual(ms.kind === 'clone' && ms.child.kind === 'primitive' ? ms.child.ops : undefined, [
      { name: 'monitor', intervalMs: 29_000, timeoutMs: 30_000, role: 'Promoted' },
      { name: 'monitor', intervalMs: 31_000, timeoutMs: 20_000, role: 'Unpromoted' },
    ]);
    assert.deepEqual(config.constraints?.[0], { kind: 'colocation', id: 'fs-on-db', rsc: 'fs', withRsc: 'db-ms', score: INFINITY, withRscRole: 'Promoted' });
    assert.deepEqual(config.constraints?.[2], { kind: 'location', id: 'db-prefers', rsc: 'db-ms', node: 'a', score: INFINITY, role: 'Promoted' });
    assert.ok(notes.some((n) => /inside clone db-ms/.test(n.message)));
    assert.ok(notes.some((n) => /<master> element/.test(n.message)));
  });

  it('durations are read as Pacemaker reads them', () => {
    assert.equal(parseDurationMs('10'), 10_000);
    assert.equal(parseDurationMs('10s'), 10_000);
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('5min'), 300_000);
    assert.equal(parseDurationMs('2h'), 7_200_000);
    assert.equal(parseDurationMs('PT1M30S'), 90_000);
    assert.equal(parseDurationMs('ten'), undefined);
  });

  it('input that is not a CIB, or not valid XML, is a CibError naming the problem', () => {
    assert.throws(() => importPacemakerXml('<configuration/>'), (e: unknown) => e instanceof CibError && /not <cib>/.test(e.message));
    assert.throws(() => importPacemakerXml('<cib><configuration>'), /never closed/);
    // A node name sanode cannot accept: the validation error names the field.
    assert.throws(() => importPacemakerXml('<cib><configuration><nodes><node id="1" uname="bad name"/></nodes><resources/></configuration></cib>'), (e: unknown) => e instanceof CibError && e.field === 'nodes[0].name');
  });
});

describe('sanode config import-pacemaker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-import-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const io = () => {
    const o = { out: '', err: '' };
    return { o, io: { stdout: { write: (t: string) => (o.out += t) }, stderr: { write: (t: string) => (o.err += t) } } };
  };

  it('prints the JSON on stdout and every loss on stderr; --out writes a file', async () => {
    const a = io();
    assert.equal(await importPacemakerCommand([fixture], a.io), 0);
    const config = JSON.parse(a.o.out) as CibConfig;
    assert.equal(config.resources[0]!.id, 'webservice');
    assert.match(a.o.err, /7 things not carried over/);
    assert.match(a.o.err, /lost {2}resources\/primitive\[fence-ipmi\]: sanode has no fence devices yet/);
    assert.doesNotMatch(a.o.err, /lib\/fencing/);
    const b = io();
    const out = join(dir, 'web.json');
    assert.equal(await importPacemakerCommand([fixture, '--out', out, '--quiet'], b.io), 0);
    assert.equal(b.o.out, '');
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), config);
    assert.doesNotMatch(b.o.err, /info {2}/);
  });

  it('--strict exits 3 when anything is lost, and the summary says so; no-quorum-policy=ignore is a WARNING', async () => {
    const a = io();
    assert.equal(await importPacemakerCommand([fixture, "--strict"], a.io), 3);
    assert.match(a.o.err, /7 things not carried over \(--strict: exit code 3\), 1 WARNING/);
    assert.match(a.o.err, /WARNING {2}crm_config\/cluster_property_set\/no-quorum-policy: no-quorum-policy=ignore is carried over: a node that loses quorum keeps running its resources/);
    assert.equal(JSON.parse(a.o.out).properties.noQuorumPolicy, 'ignore');
  });

  it("pcs's reload-agent op is harmless: informational, nothing lost, --strict exits 0", async () => {
    const file = join(dir, 'reload.xml');
    writeFileSync(
      file,
      '<cib><configuration><crm_config/><nodes><node id="1" uname="n1"/></nodes><resources><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"><operations>' +
        '<op id="d-monitor" name="monitor" interval="10s" timeout="20s"/><op id="d-reload" name="reload-agent" interval="0s" timeout="10s"/></operations></primitive></resources><constraints/></configuration></cib>',
    );
    const a = io();
    assert.equal(await importPacemakerCommand([file, '--strict'], a.io), 0);
    assert.match(a.o.err, /0 things not carried over/);
    assert.match(a.o.err, /info {2}resources\/primitive\[d\]\/operations\/op\[d-reload\]: operation "reload-agent": sanode restarts/);
  });

  it('bad input exits 1 with the file and the reason; usage errors exit 2', async () => {
    const bad = join(dir, 'bad.xml');
    writeFileSync(bad, '<cib><configuration><resources><primitive id="x" class="ocf" type="Dummy"/></resources></configuration></cib>');
    const a = io();
    assert.equal(await importPacemakerCommand([bad], a.io), 1);
    assert.match(a.o.err, /bad\.xml: resources\[0\]\.agent\.provider \(x\): ocf agents need a provider.*\[SANODE_INVALID_CIB\]/);
    const b = io();
    assert.equal(await importPacemakerCommand([join(dir, 'missing.xml')], b.io), 1);
    assert.match(b.o.err, /no such file/);
    assert.equal(await importPacemakerCommand([], io().io), 2);
    assert.equal(await configCommand(['nope'], io().io), 2);
    const c = io();
    assert.equal(await configCommand(['import-pacemaker', fixture, '--quiet'], c.io), 0);
    assert.equal((JSON.parse(c.o.out) as CibConfig).resources.length, 2);
  });
});
