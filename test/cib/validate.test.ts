import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INFINITY, addScores, banResource, clearResource, moveResource, parseScore, type CibConfig } from '../../lib/cib/model.js';
import { CibError, validateConfig } from '../../lib/cib/validate.js';
import { parseXml } from '../../lib/cib/xml.js';

const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

function base(): CibConfig {
  return {
    nodes: [
      { id: '1', name: 'n1' },
      { id: '2', name: 'n2' },
    ],
    resources: [
      { kind: 'primitive', id: 'ip', agent },
      { kind: 'group', id: 'web', members: [{ kind: 'primitive', id: 'app', agent }] },
      { kind: 'clone', id: 'pings', child: { kind: 'primitive', id: 'ping', agent } },
    ],
    constraints: [],
  };
}

function rejects(cfg: CibConfig, field: RegExp, objectId?: string): CibError {
  try {
    validateConfig(cfg);
  } catch (error) {
    assert.ok(error instanceof CibError, String(error));
    assert.equal(error.code, 'SANODE_INVALID_CIB');
    assert.match(error.field ?? '', field);
    if (objectId !== undefined) assert.equal(error.objectId, objectId);
    return error;
  }
  assert.fail('expected a CibError');
}

describe('CIB validation', () => {
  it('accepts a well-formed configuration', () => {
    validateConfig(base());
  });

  it('holdoverMs: a whole number of milliseconds, 0 or more, on a primitive or a group', () => {
    const ok = base();
    ok.resources[0] = { kind: 'primitive', id: 'ip', agent, meta: { holdoverMs: 0 } };
    validateConfig(ok);
    for (const bad of [-1, 1.5, Number.NaN, '200' as unknown as number]) {
      const cfg = base();
      cfg.resources[1] = { kind: 'group', id: 'web', members: [{ kind: 'primitive', id: 'app', agent }], meta: { holdoverMs: bad } };
      rejects(cfg, /meta\.holdoverMs$/, 'web');
    }
  });

  it('names the duplicate id and where it was first used', () => {
    const cfg = base();
    cfg.resources.push({ kind: 'primitive', id: 'app', agent });
    const e = rejects(cfg, /resources\[3\]\.id/, 'app');
    assert.match(e.message, /already used at resources\[1\]\.members\[0\]\.id/);
  });

  it('rejects a constraint on an unknown resource, naming the constraint and the field', () => {
    const cfg = base();
    cfg.constraints = [{ kind: 'colocation', id: 'c1', rsc: 'ip', withRsc: 'nope', score: INFINITY }];
    const e = rejects(cfg, /constraints\[0\]\.withRsc/, 'c1');
    assert.match(e.message, /unknown resource "nope"/);
  });

  it('rejects a cycle of mandatory orders and quotes the constraints', () => {
    const cfg = base();
    cfg.constraints = [
      { kind: 'order', id: 'o1', first: 'ip', then: 'web' },
      { kind: 'order', id: 'o2', first: 'web', then: 'pings' },
      { kind: 'order', id: 'o3', first: 'pings', then: 'ip' },
    ];
    const e = rejects(cfg, /constraints/);
    assert.match(e.message, /cycle \(o1 -> o2 -> o3\)/);
  });

  it('allows the same cycle when one order is optional', () => {
    const cfg = base();
    cfg.constraints = [
      { kind: 'order', id: 'o1', first: 'ip', then: 'web' },
      { kind: 'order', id: 'o2', first: 'web', then: 'ip', orderKind: 'Optional' },
    ];
    validateConfig(cfg);
  });

  it('asks for the clone rather than its child in constraints', () => {
    const cfg = base();
    cfg.constraints = [{ kind: 'location', id: 'l1', rsc: 'ping', node: 'n1', score: 5 }];
    const e = rejects(cfg, /constraints\[0\]\.rsc/, 'l1');
    assert.match(e.message, /constrain the clone itself/);
  });

  it('rejects a location on an unknown node and an out-of-range score', () => {
    const cfg = base();
    cfg.constraints = [{ kind: 'location', id: 'l1', rsc: 'ip', node: 'n9', score: 5 }];
    rejects(cfg, /constraints\[0\]\.node/, 'l1');
    cfg.constraints = [{ kind: 'location', id: 'l1', rsc: 'ip', node: 'n1', score: INFINITY + 1 }];
    rejects(cfg, /constraints\[0\]\.score/, 'l1');
  });

  it('rejects bad meta and ops with the field named', () => {
    const cfg = base();
    cfg.resources[0] = { kind: 'primitive', id: 'ip', agent, meta: { targetRole: 'Running' as never } };
    rejects(cfg, /resources\[0\]\.meta\.targetRole/, 'ip');
    cfg.resources[0] = { kind: 'primitive', id: 'ip', agent, ops: [{ name: 'start', intervalMs: 5000, timeoutMs: 1000 }] };
    rejects(cfg, /resources\[0\]\.ops\[0\]\.intervalMs/, 'ip');
    cfg.resources[0] = { kind: 'primitive', id: 'ip', agent, ops: [{ name: 'monitor', intervalMs: 5000, timeoutMs: 1000, onFail: 'explode' as never }] };
    rejects(cfg, /resources\[0\]\.ops\[0\]\.onFail/, 'ip');
  });

  it('rejects rules without a value for a comparison', () => {
    const cfg = base();
    cfg.constraints = [{ kind: 'location', id: 'l1', rsc: 'ip', rules: [{ score: 10, expressions: [{ attribute: 'rack', operation: 'eq' }] }] }];
    rejects(cfg, /rules\[0\]\.expressions\[0\]\.value/, 'l1');
  });
});

describe('CIB helpers', () => {
  it('adds scores with saturation, -INFINITY winning over +INFINITY', () => {
    assert.equal(addScores(INFINITY, -INFINITY), -INFINITY);
    assert.equal(addScores(INFINITY, 5), INFINITY);
    assert.equal(addScores(999_999, 5), INFINITY);
    assert.equal(addScores(-3, 5), 2);
    assert.equal(parseScore('-INFINITY'), -INFINITY);
    assert.equal(parseScore('+INFINITY'), INFINITY);
    assert.equal(parseScore('12x'), undefined);
  });

  it('moves and bans with cli- constraints that clear removes, without touching the input', () => {
    const cfg = base();
    const moved = banResource(moveResource(cfg, 'ip', 'n2'), 'ip', 'n1');
    assert.deepEqual(cfg.constraints, []);
    assert.deepEqual(
      moved.constraints?.map((c) => c.id),
      ['cli-prefer-ip', 'cli-ban-ip-on-n1'],
    );
    validateConfig(moved);
    assert.deepEqual(clearResource(moved, 'ip').constraints, []);
  });
});

describe('XML reader', () => {
  it('reads elements, attributes and entities', () => {
    const x = parseXml('<?xml version="1.0"?><a x="1 &amp; 2"><!-- c --><b y=\'&lt;\'/>t&#65;</a>');
    assert.equal(x.attrs['x'], '1 & 2');
    assert.equal(x.children[0]!.attrs['y'], '<');
    assert.equal(x.text, 'tA');
  });

  it('rejects malformed XML with an offset', () => {
    assert.throws(() => parseXml('<a><b></a>'), /does not match/);
    assert.throws(() => parseXml('<a x=1/>'), /quoted value/);
    assert.throws(() => parseXml('<a>'), /never closed/);
  });
});
