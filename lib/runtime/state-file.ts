/**
 * The durable write moved to lib/storage/durable-file.ts so the CIB can share it; this module
 * stays so the runtime's imports need not change.
 */
export { readStateFile, writeStateFile } from '../storage/durable-file.js';
