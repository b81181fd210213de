import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Small durable state (ring seq, incarnation) kept across restarts.
 *
 * Writes are synchronous on purpose: the totem contract says "persist BEFORE send", and the
 * only honest way to honour it from an event loop is to finish the fsync before the next line
 * runs. It happens once per view change, so the cost does not matter.
 */
export function readStateFile<T extends object>(path: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null) return fallback;
  return { ...fallback, ...(parsed as Partial<T>) };
}

/** Write, fsync, rename, fsync the directory: the file is either the old or the new version. */
export function writeStateFile(path: string, value: object): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(value));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  const directory = openSync(dirname(path), 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}
