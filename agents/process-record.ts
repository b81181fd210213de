/**
 * What the `process` agent remembers, on disk, about each child it starts: enough to find the
 * child again after its node was killed (kill -9, a crash) and to prove that a PID still names
 * that very process and not a newer one that reused the number.
 *
 * Takes: a records directory (the node's state directory's agents/process), an instance key, a PID.
 * Emits: one small JSON file per instance, written durably (temp + fsync + rename,
 * lib/storage), removed once the process is known to be gone.
 * Must never: call a process "ours" on its PID alone. Identity is the boot id (a PID from an
 * earlier boot means nothing), the start time in clock ticks since boot (/proc/<pid>/stat field
 * 22: two processes of one boot with one PID cannot share it), and the command line. Must never
 * hand back "no record" for a file that exists but cannot be read: that is SANODE_STATE_DAMAGED,
 * naming the file, because "no record" would make a live orphan invisible.
 *
 * Linux only: where /proc cannot prove identity, nothing is recorded (the agent then behaves as
 * it did before records existed).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStateFile, removeDurableFile, writeStateFile } from '../lib/storage/index.js';

export interface ProcessIdentity {
  /** /proc/sys/kernel/random/boot_id when the process was seen. */
  readonly bootId: string;
  /** /proc/<pid>/stat field 22: when the process started, in clock ticks since boot. */
  readonly startTicks: number;
  /** /proc/<pid>/cmdline, split on NUL. */
  readonly cmdline: readonly string[];
}

export interface ProcessRecord {
  readonly version: 1;
  /** The agent's instance key (name, pidFile, or command + args + cwd). */
  readonly key: string;
  /** The child's PID, which is also its process group id (it is spawned detached). */
  readonly pid: number;
  readonly identity: ProcessIdentity;
  /** Wall clock, for the operator reading the file; never used to decide anything. */
  readonly recordedAtMs: number;
}

/** What a record says about the process it names, checked against /proc now. */
export type RecordCheck =
  | { readonly kind: 'none' }
  | { readonly kind: 'alive'; readonly record: ProcessRecord; readonly path: string }
  /** The PID is gone, a zombie, or now names another process: the record is stale. */
  | { readonly kind: 'stale'; readonly record: ProcessRecord; readonly path: string; readonly why: string };

const RECORD_FIX = 'check whether the process it names still runs (and stop it by hand if it does), then move the file away and run cleanup for the resource';

export function recordPath(directory: string, key: string): string {
  // A hash, because the key may hold any character (a command line, a path).
  return join(directory, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
}

export function bootId(): string | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

/** The identity of a live (not zombie) process, or undefined when it is gone or cannot be read. */
export function identityOf(pid: number): ProcessIdentity | undefined {
  const boot = bootId();
  if (boot === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the ")" that ends the command name (which may itself hold spaces and parentheses)
    // come field 3 (state) onwards, so field 22 is at index 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    const startTicks = Number(fields[19]);
    if (!Number.isSafeInteger(startTicks)) return undefined;
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const cmdline = raw.endsWith('\0') ? raw.slice(0, -1).split('\0') : raw.split('\0');
    return { bootId: boot, startTicks, cmdline };
  } catch {
    return undefined;
  }
}

export function sameIdentity(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.bootId === b.bootId && a.startTicks === b.startTicks && a.cmdline.length === b.cmdline.length && a.cmdline.every((arg, i) => arg === b.cmdline[i]);
}

/** Why `pid` is not (or no longer) the recorded process, or undefined when it is. */
export function mismatch(pid: number, recorded: ProcessIdentity): string | undefined {
  const now = identityOf(pid);
  if (now === undefined) return `pid ${pid} is gone`;
  if (now.bootId !== recorded.bootId) return `recorded in another boot (${recorded.bootId})`;
  if (now.startTicks !== recorded.startTicks) return `pid ${pid} now names another process (started at tick ${now.startTicks}, recorded ${recorded.startTicks})`;
  // A process on its way out has already released its memory, so its command line reads empty
  // before it turns zombie; boot id and start time already name it, and it is still ours to wait for.
  if (now.cmdline.length === 1 && now.cmdline[0] === '') return undefined;
  if (!sameIdentity(now, recorded)) return `pid ${pid} now runs another command line`;
  return undefined;
}

export function writeRecord(directory: string, record: ProcessRecord): void {
  writeStateFile(recordPath(directory, record.key), record);
}

export function removeRecord(directory: string, key: string): void {
  removeDurableFile(recordPath(directory, key));
}

const isText = (v: unknown): v is string => typeof v === 'string';

/** The record for `key`, or undefined when there is none; SANODE_STATE_DAMAGED when it cannot be trusted. */
export function readRecord(directory: string, key: string): ProcessRecord | undefined {
  const path = recordPath(directory, key);
  const stored = readStateFile<Partial<ProcessRecord>>(path, {}, {
    check: (v) => {
      if (v['version'] !== 1) return `version must be 1, got ${JSON.stringify(v['version'])}`;
      if (v['key'] !== key) return `key must be ${JSON.stringify(key)} (the instance this file is named after), got ${JSON.stringify(v['key'])}`;
      const pid = v['pid'];
      if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return `pid must be an integer > 1, got ${JSON.stringify(pid)}`;
      const identity = v['identity'] as Record<string, unknown> | undefined;
      if (typeof identity !== 'object' || identity === null) return `identity must be an object, got ${JSON.stringify(identity)}`;
      if (!isText(identity['bootId']) || identity['bootId'] === '') return `identity.bootId must be a non-empty string, got ${JSON.stringify(identity['bootId'])}`;
      const ticks = identity['startTicks'];
      if (typeof ticks !== 'number' || !Number.isSafeInteger(ticks) || ticks < 0) return `identity.startTicks must be an integer >= 0, got ${JSON.stringify(ticks)}`;
      const cmdline = identity['cmdline'];
      if (!Array.isArray(cmdline) || cmdline.length === 0 || !cmdline.every(isText)) return `identity.cmdline must be a non-empty list of strings, got ${JSON.stringify(cmdline)}`;
      return undefined;
    },
    fix: RECORD_FIX,
  });
  return stored.version === undefined ? undefined : (stored as ProcessRecord);
}

/**
 * Reads the record for `key` and checks the process it names. A stale record is removed here, and
 * the process now holding its PID (if any) is left alone.
 */
export function checkRecord(directory: string, key: string): RecordCheck {
  const record = readRecord(directory, key);
  if (record === undefined) return { kind: 'none' };
  const path = recordPath(directory, key);
  let why = mismatch(record.pid, record.identity);
  // Our children lead their own process group (they are spawned detached).
  if (why === undefined && processGroupOf(record.pid) !== record.pid) why = `pid ${record.pid} no longer leads its own process group`;
  if (why === undefined) return { kind: 'alive', record, path };
  removeDurableFile(path);
  return { kind: 'stale', record, path, why };
}

function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}
