/**
 * `sanode run cluster.yaml`: one node from a file, for services that are not Node (nginx, an
 * NFS server, a database), managed by the shipped agents as Pacemaker manages them.
 *
 *   SIGTERM, SIGINT   graceful leave (resources stopped and handed over), then exit 0
 *   SIGHUP            reload the file's resource part through the CIB: checked, diff logged, applied
 *                     in agreed order; a bad file is logged and changes nothing
 *   exit 0            left cleanly; 78 (EX_CONFIG) the file is wrong (do not restart: fix it);
 *                     75 (EX_TEMPFAIL) the node could not start (port in use, node already runs);
 *                     1 anything else
 *
 * The admin socket is always on for the sidecar (admin.socket in the file, or --socket, or the
 * default path), so every `sanode` command works against it.
 */
import { isSanodeError } from '../errors/index.js';
import { loadClusterFile, type LoadedClusterFile } from '../config/file.js';
import { planApply } from '../admin/config-apply.js';
import { startNode, type NodeHandle } from '../join.js';
import { createLogger, logDiagnostics, type LogFormat } from './log.js';
import { contextOf } from '../diagnostics.js';
import type { Logger } from 'pino';

export const EXIT = { ok: 0, failure: 1, usage: 2, tempfail: 75, config: 78 } as const;

export interface RunOptions {
  readonly file: string;
  readonly socket?: string;
  readonly logFormat?: LogFormat;
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly stderr?: { write(text: string): unknown };
}

/** Reloads the resource part of the file; resolves with the diff applied, logs and rethrows nothing. */
export async function reload(handle: NodeHandle, path: string, logger: Logger): Promise<string[] | undefined> {
  let loaded: LoadedClusterFile;
  try {
    loaded = loadClusterFile(path);
    if (loaded.file.cib === undefined) {
      logger.warn({ file: path }, 'reload: the file has no cib section; nothing to apply');
      return undefined;
    }
    const plan = planApply(handle.cluster.cib().cib.config, loaded.file.cib);
    for (const warning of plan.warnings) logger.warn({ file: path }, `reload: ${warning}`);
    if (plan.diff.length === 0) {
      logger.info({ file: path }, 'reload: no change');
      return [];
    }
    for (const line of plan.diff) logger.info({ file: path }, `reload: ${line}`);
    const version = await handle.cluster.updateCib({ op: 'replace-config', config: plan.config });
    logger.info({ file: path, version: `${version.adminEpoch}.${version.epoch}.${version.numUpdates}` }, 'reload: applied');
    return plan.diff;
  } catch (error) {
    logger.error({ file: path, code: (error as { code?: unknown }).code }, `reload refused, nothing changed: ${(error as Error).message}`);
    return undefined;
  }
}

export async function runSidecar(options: RunOptions): Promise<number> {
  const stderr = options.stderr ?? process.stderr;
  let loaded: LoadedClusterFile;
  try {
    loaded = loadClusterFile(options.file);
  } catch (error) {
    if (!isSanodeError(error)) throw error;
    stderr.write(`sanode run: ${options.file}: ${error.message} [${error.code}]\n`);
    return EXIT.config;
  }
  let handle: NodeHandle | undefined;
  const logger = createLogger(options.logFormat ?? loaded.file.log?.format ?? 'json', options.logLevel ?? loaded.file.log?.level ?? 'info', process.stdout, () =>
    handle === undefined ? { cluster: loaded.file.cluster, node: loaded.file.node.id } : contextOf(handle.cluster),
  );
  const stopLogging = logDiagnostics(logger);
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let leaving = false;
  const shutdown = async (why: string): Promise<void> => {
    if (leaving) return;
    leaving = true;
    logger.info({ reason: why }, 'leaving the cluster');
    try {
      await handle?.cluster.leave();
      logger.info({}, 'left');
      finish(EXIT.ok);
    } catch (error) {
      logger.error({}, `leave failed: ${(error as Error).message}`);
      finish(EXIT.failure);
    }
  };
  const onTerm = (signal: NodeJS.Signals) => {
    // A second signal while leaving: the operator wants out now.
    if (leaving) finish(EXIT.failure);
    else void shutdown(signal);
  };
  const onHup = () => {
    if (handle !== undefined && !leaving) void reload(handle, loaded.path, logger);
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  process.on('SIGHUP', onHup);
  try {
    const admin = { ...loaded.options.admin, ...(options.socket === undefined ? {} : { socket: options.socket }) };
    handle = await startNode({ ...loaded.options, admin }, { onLeave: () => shutdown('sanode leave') });
    const s = handle.cluster.status();
    logger.info(
      { cluster: s.cluster, node: s.node.id, view: s.view?.id.seq, epoch: s.epoch, file: loaded.path, admin: handle.admin?.socketPaths },
      `node ${s.node.id} (${s.node.name}) running`,
    );
    return await finished;
  } catch (error) {
    if (!isSanodeError(error)) throw error;
    logger.fatal({ code: error.code, field: error.field }, error.message);
    stderr.write(`sanode run: ${error.message} [${error.code}]\n`);
    return error.code === 'SANODE_INVALID_CONFIG' || error.code === 'SANODE_INVALID_CIB' || error.code.startsWith('SANODE_KEY_') ? EXIT.config : EXIT.tempfail;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
    process.off('SIGHUP', onHup);
    stopLogging();
  }
}
