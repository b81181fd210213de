/**
 * Resource agents (`sanode/agents`): the agent contract and the agents sanode ships.
 *
 * One naming rule: every shipped agent is a factory named after its type that returns a new
 * agent — vip(), ocf(), systemd(), lsb(), filesystem(), dummy() — except processAgent(), since
 * an export named `process` would shadow Node's global in the importing module. The older
 * createProcessAgent, createFilesystemAgent and createDummyAgent stay as deprecated aliases.
 */
export * from './types.js';
export { runCommand, commandExists, netnsRunner, type CommandResult, type CommandRunner, type RunCommandOptions } from './command.js';
export { vip, DEFAULT_LEASE_SECONDS, DEFAULT_ARP_COUNT, type VipParams, type VipOptions } from './vip.js';
export { ocf, DEFAULT_OCF_ROOT, DEFAULT_OCF_TIMEOUT_MS, type OcfParams, type OcfOptions } from './ocf.js';
export { systemd, type SystemdParams, type SystemdOptions } from './systemd.js';
export { lsb, type LsbParams, type LsbOptions } from './lsb.js';
export { createDummyAgent as dummy, type DummyAgent, type DummyParams, type DummyFaults, type DummyHang, type DummyRole } from './dummy.js';
export { createProcessAgent as processAgent, type ProcessAgent, type ProcessAgentOptions, type ProcessParams, type OrphanFound } from './process.js';
export { filesystem, parseMountInfo, readMounts, unescapeMountField, type FilesystemParams, type MountEntry } from './filesystem.js';

import { createDummyAgent as dummyFactory } from './dummy.js';
import { createProcessAgent as processFactory } from './process.js';
import { createFilesystemAgent as filesystemFactory } from './filesystem.js';
/** @deprecated the naming rule above: use dummy() */
export const createDummyAgent = dummyFactory;
/** @deprecated the naming rule above: use processAgent() */
export const createProcessAgent = processFactory;
/** @deprecated the naming rule above: use filesystem() */
export const createFilesystemAgent = filesystemFactory;
