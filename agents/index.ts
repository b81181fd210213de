/**
 * Resource agents (`sanode/agents`): the agent contract and the agents sanode ships.
 */
export * from './types.js';
export { runCommand, commandExists, netnsRunner, type CommandResult, type CommandRunner, type RunCommandOptions } from './command.js';
export { vip, DEFAULT_LEASE_SECONDS, DEFAULT_ARP_COUNT, type VipParams, type VipOptions } from './vip.js';
export { ocf, DEFAULT_OCF_ROOT, DEFAULT_OCF_TIMEOUT_MS, type OcfParams, type OcfOptions } from './ocf.js';
export { systemd, type SystemdParams, type SystemdOptions } from './systemd.js';
export { lsb, type LsbParams, type LsbOptions } from './lsb.js';
export { createDummyAgent, type DummyAgent, type DummyParams, type DummyFaults, type DummyHang, type DummyRole } from './dummy.js';
export { createProcessAgent, type ProcessAgent, type ProcessParams } from './process.js';
export { createFilesystemAgent, filesystem, parseMountInfo, readMounts, unescapeMountField, type FilesystemParams, type MountEntry } from './filesystem.js';
