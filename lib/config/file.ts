/**
 * cluster.yaml: the sidecar's configuration file, read with the `yaml` package and checked with
 * the same schema as joinCluster's options (lib/config/schema.ts).
 *
 * Takes: the file's text (or path). Emits: the checked file and the joinCluster options it
 * stands for, or a ConfigError naming the key path (or the YAML line), the value and the fix.
 * Never: reads anything the file names (key file, state directory): joinCluster does that.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors/index.js';
import type { JoinClusterOptions } from '../runtime/options.js';
import { clusterFileSchema, parseConfig, type ClusterFile } from './schema.js';

export interface LoadedClusterFile {
  readonly path: string;
  readonly file: ClusterFile;
  readonly options: JoinClusterOptions;
}

export function parseClusterFile(text: string, path = 'cluster.yaml'): LoadedClusterFile {
  // uniqueKeys: a key written twice is an error, not "the last one wins" (a classic YAML surprise).
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const line = problem.linePos?.[0]?.line;
    throw new ConfigError(line === undefined ? path : `${path}:${line}`, `not valid YAML: ${problem.message.split('\n')[0]}; fix the line shown`);
  }
  const file = parseConfig(clusterFileSchema, doc.toJS());
  return { path, file, options: fileToOptions(file, path) };
}

export function loadClusterFile(path: string): LoadedClusterFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(path, code === 'ENOENT' ? 'no such file; give the path of a cluster.yaml (examples/ has some)' : `cannot read it: ${(error as Error).message}`, { cause: error });
  }
  return parseClusterFile(text, resolve(path));
}

/** Paths in the file are relative to the file, so `sanode run` works from any directory. */
function fileToOptions(file: ClusterFile, path: string): JoinClusterOptions {
  const { log: _log, ...options } = file;
  void _log;
  const base = dirname(resolve(path));
  const out = { ...options } as JoinClusterOptions;
  if (out.keyFile !== undefined && !isAbsolute(out.keyFile)) out.keyFile = resolve(base, out.keyFile);
  return out;
}
