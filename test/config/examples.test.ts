import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterFile } from '../../lib/config/file.js';
import { resolveJoinOptions } from '../../lib/runtime/options.js';
import { EXIT } from '../../lib/sidecar/run.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'sidecar');

for (const name of ['web-cluster.yaml', 'nfs-cluster.yaml']) {
  test(`examples/sidecar/${name} is a valid cluster.yaml`, () => {
    const loaded = loadClusterFile(join(examples, name));
    const resolved = resolveJoinOptions(loaded.options);
    assert.equal(resolved.security.mode, 'secure');
    assert.ok(resolved.cib.resources.length > 0);
  });
}

test('the systemd unit matches the sidecar: reload is SIGHUP, stop is SIGTERM, a wrong file is not restarted', () => {
  const unit = readFileSync(join(examples, 'sanode.service'), 'utf8');
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, new RegExp(`^RestartPreventExitStatus=${EXIT.config}$`, 'm'));
  assert.match(unit, /^ExecStart=.*sanode run \/etc\/sanode\/cluster\.yaml$/m);
});
