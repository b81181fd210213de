/**
 * Files that must survive a crash or a power cut whole: either the previous version or the new
 * one is on disk afterwards, never a torn mix and never nothing.
 *
 * Takes: a path and the complete new contents.
 * Emits: nothing; it returns once the new contents and the rename are on stable storage.
 * Must never: leave the target half-written (the new contents go to a temporary file in the same
 * directory first, so the rename is atomic), or return before the fsyncs have finished.
 *
 * Writes are synchronous on purpose: callers promise "persisted BEFORE sent/reported" (the totem
 * ring seq, the CIB), and the only honest way to keep that promise from an event loop is to finish
 * the fsync before the next line runs.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SanodeError } from '../errors/index.js';

/** Write, fsync, rename, fsync the directory: the file is either the old or the new version. */
export function writeDurableFile(path: string, contents: string | Uint8Array): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  // The pid keeps two processes that share a state directory by mistake from writing into one
  // temporary file; the rename still decides which whole version wins.
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
    let offset = 0;
    // writeSync may write less than asked (large buffers, some file systems): loop until done.
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // nothing to clean up
    }
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  // Without this the rename itself may be lost in a power cut, bringing the old file back.
  const dirFd = openSync(directory, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Removes the file durably (unlink, then fsync the directory): once this returns, a power cut
 * cannot bring the file back. A file that is already gone is not an error.
 */
export function removeDurableFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** The file's text, or undefined when it does not exist; any other failure is thrown. */
export function readDurableFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** How a small state file must look, and what the operator should do when it does not. */
export interface StateFileRules {
  /** The problem with a parsed object, or undefined when it can be trusted. */
  readonly check?: (value: Record<string, unknown>) => string | undefined;
  /** What to do about a damaged file, said to the operator. */
  readonly fix?: string;
}

/**
 * Small durable state (ring seq, incarnation) kept across restarts, as a JSON object merged over
 * `fallback` so fields added in later versions get their defaults. A file that exists but is not
 * such an object (truncated, edited by hand, from a bug) is SANODE_STATE_DAMAGED, naming the file
 * and the fix: never the fallback, which would silently reset what the file promised to keep.
 */
export function readStateFile<T extends object>(path: string, fallback: T, rules: StateFileRules = {}): T {
  const text = readDurableFile(path);
  if (text === undefined) return fallback;
  const fix = rules.fix ?? 'restore it from a backup, or move it away to start without it';
  const damaged = (problem: string, cause?: unknown): SanodeError =>
    new SanodeError('SANODE_STATE_DAMAGED', `${path}: ${problem}; the file was left as it is; ${fix}`, { field: path, cause });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw damaged(`not JSON (${error instanceof Error ? error.message : String(error)}), perhaps truncated`, error);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw damaged(`expected a JSON object, got ${JSON.stringify(parsed)}`);
  const problem = rules.check?.(parsed as Record<string, unknown>);
  if (problem !== undefined) throw damaged(problem);
  return { ...fallback, ...(parsed as Partial<T>) };
}

export function writeStateFile(path: string, value: object): void {
  writeDurableFile(path, JSON.stringify(value));
}
