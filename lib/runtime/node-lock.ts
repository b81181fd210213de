/**
 * One node per state directory: a lock file that says which process runs the node.
 *
 * Why: two copies of one node on a host (a service started twice, a test left running) used to
 * surface as "port in use", or worse, with separate ports, as two incarnations fighting over one
 * ring seq and CIB file. The lock names the process that already runs the node.
 *
 * Takes: a state directory, the cluster and node id. Emits: a release function, or a SanodeError
 * (SANODE_NODE_RUNNING when a live process holds the lock; SANODE_INVALID_CONFIG when the
 * directory cannot be made or written). A lock whose process is gone (kill -9, a crash) is taken
 * over: the pid in it is checked with signal 0.
 */
import { closeSync, constants, mkdirSync, openSync, accessSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, SanodeError } from '../errors/index.js';

const LOCK_FILE = 'node.lock';

/**
 * Locks this process holds, removed when it exits. Per process, not per node, because process exit
 * is a per-process event: one 'exit' listener for any number of nodes in the process.
 */
const held = new Set<string>();
let exitHookInstalled = false;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user; it is still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes the directory (0700: it holds the CIB) and proves it writable before anything binds. */
export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    accessSync(stateDir, constants.W_OK | constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(
      'stateDir',
      `'${stateDir}' cannot be used (${code}); run as a user that can write it, or set stateDir to an absolute directory this user owns`,
      { cause: error },
    );
  }
}

export function lockNode(stateDir: string, cluster: string, nodeId: number): () => void {
  ensureStateDir(stateDir);
  const path = join(stateDir, LOCK_FILE);
  // Two attempts: the second follows the removal of a lock whose process is gone.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError('stateDir', `cannot create ${path}: ${(error as Error).message}`, { cause: error });
      let owner: { pid?: unknown } = {};
      try {
        owner = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
      } catch {
        // A lock torn by a crash between open and write: nobody can be holding it.
      }
      const pid = typeof owner.pid === 'number' ? owner.pid : undefined;
      if (pid !== undefined && (held.has(path) || (pid !== process.pid && processAlive(pid)))) {
        throw new SanodeError(
          'SANODE_NODE_RUNNING',
          `node ${nodeId} of cluster '${cluster}' already runs here (pid ${pid}${pid === process.pid ? ', this process' : ''}; lock ${path}); stop it first, or give this node another id and stateDir`,
          { field: 'node.id' },
        );
      }
      try {
        unlinkSync(path);
      } catch {
        // Someone else removed it first; the next attempt settles who wins.
      }
      continue;
    }
    writeSync(fd, JSON.stringify({ pid: process.pid, cluster, node: nodeId }));
    closeSync(fd);
    held.add(path);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const p of held) {
          try {
            unlinkSync(p);
          } catch {
            // already gone
          }
        }
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.delete(path);
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    };
  }
  throw new SanodeError('SANODE_NODE_RUNNING', `node ${nodeId} of cluster '${cluster}': another process keeps taking ${path}; stop the other copy of this node`, { field: 'node.id' });
}
