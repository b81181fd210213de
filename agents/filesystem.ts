/**
 * `filesystem`: mounts a filesystem on a directory, like ocf:heartbeat:Filesystem.
 *
 * monitor reads /proc/self/mountinfo rather than running `mount`, because it is what the kernel
 * says for this mount namespace and cannot hang on a stale /etc/mtab. stop is idempotent and,
 * with forceUnmount, retries a busy unmount until the operation's timeout. It never kills other
 * processes: whoever holds the filesystem may be something the cluster does not own, and a
 * stop that cannot finish is better escalated (fencing) than guessed at.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, OCF, configError, type AgentContext, type ResourceAgent } from './types.js';

export interface FilesystemParams {
  /** A block device, `tmpfs`, a server export, or the source directory of a bind mount. */
  device: string;
  /** The mount point; created if missing. Must be absolute. */
  directory: string;
  /** Required unless options has `bind` or `rbind`. */
  fstype?: string;
  /** Comma-separated, as for `mount -o`. */
  options?: string;
  /** Retry a busy unmount until the stop times out. Default false: a busy unmount fails at once. */
  forceUnmount?: boolean | string;
  /** Pause between unmount retries. Default 500. */
  retryIntervalMs?: number | string;
}

export interface MountEntry {
  id: number;
  parentId: number;
  majorMinor: string;
  /** The path inside the mounted filesystem that appears at mountPoint (not '/' for binds). */
  root: string;
  mountPoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** The kernel escapes space, tab, newline and backslash in mountinfo as \ooo (e.g. \040). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Parses /proc/<pid>/mountinfo (proc(5)): fields up to a variable list of optional fields,
 * a '-' separator, then fstype, source and super options.
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash === -1 || dash + 3 > fields.length) continue;
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      majorMinor: fields[2] ?? '',
      root: unescapeMountField(fields[3] ?? ''),
      mountPoint: unescapeMountField(fields[4] ?? ''),
      options: fields[5] ?? '',
      fstype: unescapeMountField(fields[dash + 1] ?? ''),
      source: unescapeMountField(fields[dash + 2] ?? ''),
      superOptions: fields[dash + 3] ?? '',
    });
  }
  return entries;
}

export function readMounts(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

interface Resolved {
  device: string;
  directory: string;
  fstype: string | undefined;
  options: string | undefined;
  forceUnmount: boolean;
  retryIntervalMs: number;
}

const META_DATA = `<?xml version="1.0"?>
<resource-agent name="filesystem" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">Mounts a filesystem</shortdesc>
  <longdesc lang="en">Mounts device on directory; monitor checks /proc/self/mountinfo.</longdesc>
  <parameters>
    <parameter name="device" required="1"><shortdesc lang="en">Device, export or bind source</shortdesc><content type="string"/></parameter>
    <parameter name="directory" required="1" unique="1"><shortdesc lang="en">Mount point</shortdesc><content type="string"/></parameter>
    <parameter name="fstype"><shortdesc lang="en">Filesystem type</shortdesc><content type="string"/></parameter>
    <parameter name="options"><shortdesc lang="en">Mount options</shortdesc><content type="string"/></parameter>
    <parameter name="forceUnmount"><shortdesc lang="en">Retry a busy unmount until the stop timeout</shortdesc><content type="boolean" default="false"/></parameter>
    <parameter name="retryIntervalMs"><shortdesc lang="en">Pause between unmount retries</shortdesc><content type="integer" default="500"/></parameter>
  </parameters>
  <actions>
    <action name="start" timeout="60s"/>
    <action name="stop" timeout="60s"/>
    <action name="monitor" timeout="40s" interval="20s"/>
    <action name="validate-all" timeout="5s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
`;

function flag(value: unknown, field: string): boolean {
  if (value === undefined || value === '' || value === false) return false;
  if (value === true) return true;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
  }
  throw configError(field, `must be true or false, got ${String(value)}`);
}

function resolve(input: FilesystemParams | undefined): Resolved {
  if (typeof input !== 'object' || input === null) throw configError('params', 'missing; the filesystem agent needs device and directory');
  const { device, directory, fstype, options } = input;
  if (typeof device !== 'string' || device === '') throw configError('device', 'required: what to mount');
  if (typeof directory !== 'string' || !path.isAbsolute(directory)) throw configError('directory', `must be an absolute path, got ${String(directory)}`);
  if (fstype !== undefined && typeof fstype !== 'string') throw configError('fstype', 'must be a string');
  if (options !== undefined && typeof options !== 'string') throw configError('options', 'must be a string');
  const bind = (options ?? '').split(',').some((o) => o === 'bind' || o === 'rbind');
  if ((fstype === undefined || fstype === '') && !bind) throw configError('fstype', 'required unless options has bind (e.g. ext4, xfs, tmpfs, nfs)');
  const retryRaw = input.retryIntervalMs;
  const retryIntervalMs = retryRaw === undefined || retryRaw === '' ? 500 : Number(retryRaw);
  if (!Number.isFinite(retryIntervalMs) || retryIntervalMs < 0) throw configError('retryIntervalMs', `must be a number of milliseconds >= 0, got ${String(retryRaw)}`);
  return {
    device,
    directory: path.resolve(directory),
    fstype: fstype === '' ? undefined : fstype,
    options: options === '' ? undefined : options,
    forceUnmount: flag(input.forceUnmount, 'forceUnmount'),
    retryIntervalMs,
  };
}

/** The kernel lists mount points by their real path, symlinks resolved. */
function canonical(directory: string): string | undefined {
  try {
    return realpathSync.native(directory);
  } catch {
    return undefined;
  }
}

function isMounted(directory: string): boolean {
  const real = canonical(directory);
  if (real === undefined) return false;
  return readMounts().some((m) => m.mountPoint === real);
}

interface RunFailure {
  code: string | number | undefined;
  stderr: string;
}

function run(command: string, args: string[], signal: AbortSignal): Promise<RunFailure | undefined> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { signal, encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (error === null) return resolvePromise(undefined);
      if (signal.aborted) return reject(signal.reason);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new AgentError(OCF.ERR_INSTALLED, `${command} not found (install util-linux)`));
      resolvePromise({ code, stderr: String(stderr).trim() || error.message });
    });
  });
}

/** Stacked mounts on one directory come off one per umount; more than this is not a stack. */
const MAX_STACKED = 16;

export function createFilesystemAgent(): ResourceAgent<FilesystemParams> {
  return {
    async start({ params, signal }: AgentContext<FilesystemParams>) {
      const r = resolve(params);
      if (isMounted(r.directory)) return;
      mkdirSync(r.directory, { recursive: true });
      const args = [...(r.fstype === undefined ? [] : ['-t', r.fstype]), ...(r.options === undefined ? [] : ['-o', r.options]), r.device, r.directory];
      const failure = await run('mount', args, signal);
      if (failure !== undefined) {
        const rc = /permission denied|must be superuser|only root/i.test(failure.stderr) ? OCF.ERR_PERM : OCF.ERR_GENERIC;
        throw new AgentError(rc, `mount ${r.device} on ${r.directory} failed: ${failure.stderr}`);
      }
      if (!isMounted(r.directory)) throw new AgentError(OCF.ERR_GENERIC, `mount ${r.device} on ${r.directory} reported success but ${r.directory} is not a mount point`);
    },

    async stop({ params, signal }: AgentContext<FilesystemParams>) {
      const r = resolve(params);
      for (let unmounted = 0; isMounted(r.directory); ) {
        const failure = await run('umount', [r.directory], signal);
        if (failure === undefined) {
          if (++unmounted >= MAX_STACKED) throw new AgentError(OCF.ERR_GENERIC, `${r.directory} is still mounted after ${MAX_STACKED} unmounts`);
          continue;
        }
        // Unmounted meanwhile by someone else: the goal is reached.
        if (!isMounted(r.directory)) return;
        if (r.forceUnmount && /busy/i.test(failure.stderr)) {
          await sleep(r.retryIntervalMs, undefined, { signal });
          continue;
        }
        throw new AgentError(OCF.ERR_GENERIC, `umount ${r.directory} failed: ${failure.stderr}`);
      }
    },

    async monitor({ params }: AgentContext<FilesystemParams>) {
      return isMounted(resolve(params).directory) ? 'running' : 'not-running';
    },

    async validate({ params }: AgentContext<FilesystemParams>) {
      resolve(params);
    },

    metaData() {
      return META_DATA;
    },
  };
}

/** The agent keeps no state, so one instance serves every filesystem resource. */
/**
 * The filesystem agent's factory, as every agent is a factory named after its type
 * (`filesystem()`). It is also an agent itself, shared by every caller: that is what
 * `filesystem` was before the naming rule, kept so existing code keeps working (deprecated:
 * call it instead).
 */
export const filesystem: (() => ResourceAgent<FilesystemParams>) & ResourceAgent<FilesystemParams> = Object.assign(
  () => createFilesystemAgent(),
  createFilesystemAgent(),
);
