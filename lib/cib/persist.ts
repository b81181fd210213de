/**
 * The CIB on disk: one JSON file per node (`<stateDir>/cib.json`), replaced atomically on every
 * applied change, so the configuration survives a restart of every node (docs/cib.md).
 *
 * Takes: a path and a Cib to save; a path to load.
 * Emits: the loaded, fully validated Cib; undefined when there is no file yet (a new node);
 * a CibError (SANODE_INVALID_CIB) naming the file and the problem when it cannot be trusted.
 * Must never: hand back an empty or default CIB in place of an unreadable file. A node that
 * silently started from nothing would announce version 0.0.0 and merely lose the next state
 * exchange, but alone, or after the others lost theirs, it would erase the configuration.
 */
import { readDurableFile, writeDurableFile } from '../storage/durable-file.js';
import type { Cib } from './model.js';
import { parseJsonText } from './load.js';
import { checkWholeCib } from './replica.js';
import { CibError } from './validate.js';

/** The file format's own version, so a later format can be told apart from a damaged file. */
const FORMAT = 1;

export function saveCib(path: string, cib: Cib): void {
  const { adminEpoch, epoch, numUpdates, lastWriteRing, config, status } = cib;
  // Indented: an administrator reading it during an incident matters more than a few bytes.
  writeDurableFile(path, `${JSON.stringify({ format: FORMAT, adminEpoch, epoch, numUpdates, lastWriteRing, config, status }, null, 2)}\n`);
}

/** The saved CIB, undefined when the file does not exist, a CibError when it is not a valid CIB. */
export function loadCib(path: string): Cib | undefined {
  const text = readDurableFile(path);
  if (text === undefined) return undefined;
  const fix = 'copy cib.json from a healthy node, or move this file away to rejoin with the copy the cluster holds';
  try {
    const doc = parseJsonText(text) as Record<string, unknown>;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CibError(undefined, 'cib', 'the file must hold a JSON object');
    if (doc['format'] !== FORMAT) throw new CibError(undefined, 'format', `expected ${FORMAT}, got ${JSON.stringify(doc['format'])} (written by another sanode version, or damaged)`);
    const cib: Record<string, unknown> = { adminEpoch: doc['adminEpoch'], epoch: doc['epoch'], numUpdates: doc['numUpdates'], config: doc['config'], status: doc['status'] };
    // Files written before lastWriteRing existed have none: such a copy counts as written before any ring.
    if (doc['lastWriteRing'] !== undefined) cib['lastWriteRing'] = doc['lastWriteRing'];
    checkWholeCib(cib, 'cib');
    return cib;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const wrapped = new CibError(undefined, path, `the saved CIB cannot be used (${reason}); ${fix}`);
    (wrapped as { cause?: unknown }).cause = error;
    throw wrapped;
  }
}
