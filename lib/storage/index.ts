/**
 * Local durable storage for the runtime and the CIB.
 *
 * Takes: paths and whole file contents. Emits: files that are either the old or the new version
 * after a crash. Must never: be used from a pure core (totem, quorum, CIB replica, scheduler) —
 * those hand what to persist to their driver.
 */
export { readDurableFile, writeDurableFile, removeDurableFile, readStateFile, writeStateFile } from './durable-file.js';
