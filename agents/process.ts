/**
 * `process`: runs and supervises one long-lived command, like a supervisord program or
 * ocf:heartbeat:anything.
 *
 * The child is spawned detached, as the leader of its own process group, so that stop reaches
 * everything it forked, and so that it survives a restart of this Node process. Given a records
 * directory (the runtime passes <stateDir>/agents/process), the agent records each child it
 * starts there (PID plus an identity that survives PID reuse, agents/process-record.ts), so a
 * new agent after a kill -9 of its node finds the child on its first probe, says so (onOrphan),
 * and can stop it; a pidFile does the same without the identity proof. stop is SIGTERM to the
 * group, then SIGKILL after stopTimeoutMs. monitor checks that the leader is alive and, when configured, that an HTTP
 * (2xx) or TCP health check passes.
 *
 * State lives in the agent made by createProcessAgent(), keyed per instance (the `name`
 * parameter, else the pidFile, else command + args + cwd), so one agent serves many resources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, OCF, configError, type AgentContext, type MonitorResult, type ResourceAgent } from './types.js';
import { checkRecord, identityOf, mismatch, removeRecord, writeRecord, type ProcessIdentity } from './process-record.js';

export interface ProcessParams {
  command: string;
  /** An array, or a string split on whitespace (no shell quoting: use an array for that). */
  args?: string[] | string;
  cwd?: string;
  /** Added to this process's environment: an object, or `KEY=value` pairs separated by whitespace. */
  env?: Record<string, string> | string;
  /** Written on start, removed on stop; lets a new agent (after a restart) find the process. */
  pidFile?: string;
  /** Names the instance when several resources run the same command. */
  name?: string;
  /** After SIGTERM, how long to wait before SIGKILL. Default 5000. */
  stopTimeoutMs?: number | string;
  /** Running only if a GET answers 2xx. */
  healthUrl?: string;
  /** Running only if a TCP connection to tcpHost (default 127.0.0.1):tcpPort opens. */
  tcpHost?: string;
  tcpPort?: number | string;
  /** One health check attempt gives up after this long. Default 2000. */
  checkTimeoutMs?: number | string;
  /** During start, the pause between health check attempts. Default 200. */
  checkIntervalMs?: number | string;
  /** stdout and stderr are appended here; by default they are discarded. */
  logFile?: string;
}

export interface ProcessAgentOptions {
  /**
   * Where to record each child this agent starts (one small JSON file per instance), so that an
   * agent in a later run of the node finds a child that outlived the earlier one. Without it
   * nothing is recorded and only a pidFile finds such a child.
   */
  recordsDir?: string;
  /** Called when a monitor or probe takes over a live process that an earlier agent started. */
  onOrphan?: (orphan: OrphanFound) => void;
}

export interface OrphanFound {
  /** The parameters of the operation that found it (the object the caller passed). */
  readonly params: ProcessParams;
  readonly pid: number;
  /** How it was found: its record (identity checked) or the resource's pidFile. */
  readonly via: 'record' | 'pidFile';
  /** The record file or the pidFile. */
  readonly file: string;
  readonly cmdline: readonly string[];
}

export interface ProcessAgent extends ResourceAgent<ProcessParams> {
  /** The PID (also the process group id) of the instance, when it runs. */
  pidOf(params: ProcessParams): number | undefined;
}

interface Resolved {
  key: string;
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  pidFile: string | undefined;
  stopTimeoutMs: number;
  healthUrl: URL | undefined;
  tcp: { host: string; port: number } | undefined;
  checkTimeoutMs: number;
  checkIntervalMs: number;
  logFile: string | undefined;
}

interface Instance {
  pid: number;
  child: ChildProcess | undefined;
  /** Settles when Node has reaped the child; undefined for an adopted process. */
  exited: Promise<void> | undefined;
  /**
   * What an adopted process was proven to be. Its PID is not our child, so nothing tells us
   * when it exits and the number is reused: every later look at it checks this first.
   */
  identity: ProcessIdentity | undefined;
}

const POLL_MS = 50;

const META_DATA = `<?xml version="1.0"?>
<resource-agent name="process" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">Runs and supervises a command</shortdesc>
  <longdesc lang="en">Spawns a command in its own process group; stop sends SIGTERM to the group, then SIGKILL. Optional HTTP or TCP health check.</longdesc>
  <parameters>
    <parameter name="command" required="1"><shortdesc lang="en">Executable</shortdesc><content type="string"/></parameter>
    <parameter name="args"><shortdesc lang="en">Arguments</shortdesc><content type="string"/></parameter>
    <parameter name="cwd"><shortdesc lang="en">Working directory</shortdesc><content type="string"/></parameter>
    <parameter name="env"><shortdesc lang="en">KEY=value pairs</shortdesc><content type="string"/></parameter>
    <parameter name="pidFile"><shortdesc lang="en">PID file</shortdesc><content type="string"/></parameter>
    <parameter name="name" unique="1"><shortdesc lang="en">Instance name</shortdesc><content type="string"/></parameter>
    <parameter name="stopTimeoutMs"><shortdesc lang="en">SIGTERM to SIGKILL delay</shortdesc><content type="integer" default="5000"/></parameter>
    <parameter name="healthUrl"><shortdesc lang="en">HTTP health check URL (2xx = running)</shortdesc><content type="string"/></parameter>
    <parameter name="tcpHost"><shortdesc lang="en">TCP health check host</shortdesc><content type="string" default="127.0.0.1"/></parameter>
    <parameter name="tcpPort"><shortdesc lang="en">TCP health check port</shortdesc><content type="integer"/></parameter>
    <parameter name="checkTimeoutMs"><shortdesc lang="en">Health check attempt timeout</shortdesc><content type="integer" default="2000"/></parameter>
    <parameter name="checkIntervalMs"><shortdesc lang="en">Pause between health checks during start</shortdesc><content type="integer" default="200"/></parameter>
    <parameter name="logFile"><shortdesc lang="en">File for stdout and stderr</shortdesc><content type="string"/></parameter>
  </parameters>
  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s"/>
    <action name="validate-all" timeout="5s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
`;

function optionalString(params: Record<string, unknown>, field: string): string | undefined {
  const value = params[field];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw configError(field, `must be a string, got ${typeof value}`);
  return value;
}

function milliseconds(params: Record<string, unknown>, field: string, fallback: number): number {
  const raw = params[field];
  if (raw === undefined || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value) || value < 0) throw configError(field, `must be a number of milliseconds >= 0, got ${String(raw)}`);
  return value;
}

function resolve(input: ProcessParams | undefined): Resolved {
  if (typeof input !== 'object' || input === null) throw configError('params', 'missing; the process agent needs at least `command`');
  const params = input as unknown as Record<string, unknown>;
  const command = params['command'];
  if (typeof command !== 'string' || command.trim() === '') throw configError('command', 'required: the executable to run');
  const rawArgs = params['args'];
  let args: string[];
  if (rawArgs === undefined || rawArgs === '') args = [];
  else if (typeof rawArgs === 'string') args = rawArgs.trim().split(/\s+/);
  else if (Array.isArray(rawArgs) && rawArgs.every((a) => typeof a === 'string')) args = [...rawArgs];
  else throw configError('args', 'must be an array of strings or a string');
  const rawEnv = params['env'];
  const env: Record<string, string> = {};
  if (typeof rawEnv === 'string') {
    for (const pair of rawEnv.trim().split(/\s+/).filter((p) => p !== '')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw configError('env', `"${pair}" is not KEY=value`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  } else if (typeof rawEnv === 'object' && rawEnv !== null) {
    for (const [k, v] of Object.entries(rawEnv)) {
      if (typeof v !== 'string') throw configError('env', `${k} must be a string`);
      env[k] = v;
    }
  } else if (rawEnv !== undefined) throw configError('env', 'must be an object or KEY=value pairs');
  const cwd = optionalString(params, 'cwd');
  const pidFile = optionalString(params, 'pidFile');
  const name = optionalString(params, 'name');
  const healthText = optionalString(params, 'healthUrl');
  let healthUrl: URL | undefined;
  if (healthText !== undefined) {
    try {
      healthUrl = new URL(healthText);
    } catch {
      throw configError('healthUrl', `"${healthText}" is not a URL`);
    }
    if (healthUrl.protocol !== 'http:' && healthUrl.protocol !== 'https:') throw configError('healthUrl', 'must be http: or https:');
  }
  let tcp: Resolved['tcp'];
  const rawPort = params['tcpPort'];
  if (rawPort !== undefined && rawPort !== '') {
    const port = Number(rawPort);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw configError('tcpPort', `must be a port number 1..65535, got ${String(rawPort)}`);
    tcp = { host: optionalString(params, 'tcpHost') ?? '127.0.0.1', port };
  }
  return {
    key: name ?? pidFile ?? JSON.stringify([command, args, cwd ?? '']),
    command,
    args,
    cwd,
    env,
    pidFile,
    stopTimeoutMs: milliseconds(params, 'stopTimeoutMs', 5000),
    healthUrl,
    tcp,
    checkTimeoutMs: milliseconds(params, 'checkTimeoutMs', 2000),
    checkIntervalMs: milliseconds(params, 'checkIntervalMs', 200),
    logFile: optionalString(params, 'logFile'),
  };
}

/** state, ppid and pgrp from /proc/<pid>/stat; the command name may hold spaces and parentheses. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** A zombie has exited; only its parent has not collected it yet. */
function pidAlive(pid: number): boolean {
  const stat = procStat(pid);
  if (stat !== undefined) return stat.state !== 'Z';
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether any live process remains in the group. kill(-pgid, 0) also succeeds for zombies, which
 * an init that does not reap (some containers) leaves around forever, so /proc has the last word.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z') return true;
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Polls until done() or timeoutMs; false on timeout. Rejects if the signal aborts. */
async function waitUntil(done: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const startMs = performance.now();
  for (;;) {
    if (done()) return true;
    const leftMs = timeoutMs - (performance.now() - startMs);
    if (leftMs <= 0) return false;
    await sleep(Math.min(POLL_MS, leftMs), undefined, { signal });
  }
}

function httpCheck(url: URL, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const onAbort = (): void => {
      request.destroy();
      reject(signal.reason);
    };
    // agent: false, so that no kept-alive socket outlives the check.
    const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      signal.removeEventListener('abort', onAbort);
      request.destroy();
      resolvePromise(status >= 200 && status < 300);
    });
    request.on('timeout', () => request.destroy(new Error('health check timed out')));
    request.on('error', () => {
      signal.removeEventListener('abort', onAbort);
      if (!signal.aborted) resolvePromise(false);
    });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    request.end();
  });
}

function tcpCheck(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolvePromise(ok);
    };
    const onAbort = (): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(signal.reason);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function healthy(r: Resolved, signal: AbortSignal): Promise<boolean> {
  if (r.healthUrl !== undefined && !(await httpCheck(r.healthUrl, r.checkTimeoutMs, signal))) return false;
  if (r.tcp !== undefined && !(await tcpCheck(r.tcp.host, r.tcp.port, r.checkTimeoutMs, signal))) return false;
  return true;
}

/**
 * The PID in the pidFile, if it is still ours: alive, leading its own group as our children do,
 * and running our command. A reused PID must never be signalled.
 */
function adoptPidFile(r: Resolved): number | undefined {
  if (r.pidFile === undefined) return undefined;
  let pid: number;
  try {
    pid = Number(readFileSync(r.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const stat = procStat(pid);
  if (stat === undefined || stat.state === 'Z' || stat.pgrp !== pid) return undefined;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    if (argv0 !== r.command) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

function removePidFile(r: Resolved): void {
  if (r.pidFile !== undefined) rmSync(r.pidFile, { force: true });
}

/**
 * Whether signalling the group `pgid` can reach only what we started. An adopted leader whose PID
 * now names another process means our group is gone (Linux does not hand out a PID that is
 * still some group's id), so that process must not be signalled. A leader with no process at all
 * may have left members behind, and only they can hold the group id.
 */
function mayStillBeOurs(pgid: number, identity: ProcessIdentity | undefined): boolean {
  if (identity === undefined) return true;
  const why = mismatch(pgid, identity);
  return why === undefined || identityOf(pgid) === undefined;
}

export function createProcessAgent(options: ProcessAgentOptions = {}): ProcessAgent {
  const instances = new Map<string, Instance>();
  const { recordsDir, onOrphan } = options;

  /**
   * A live process an earlier agent started for this instance: its record first (the identity
   * is proven), else its pidFile. A stale record is removed and whatever holds its PID now is
   * never touched. A damaged record throws SANODE_STATE_DAMAGED naming the file.
   */
  const adopt = (r: Resolved, params: ProcessParams): Instance | undefined => {
    if (recordsDir !== undefined) {
      const check = checkRecord(recordsDir, r.key);
      if (check.kind === 'alive') {
        const { pid, identity } = check.record;
        onOrphan?.({ params, pid, via: 'record', file: check.path, cmdline: identity.cmdline });
        return { pid, child: undefined, exited: undefined, identity };
      }
    }
    const pid = adoptPidFile(r);
    if (pid === undefined) return undefined;
    const identity = identityOf(pid);
    onOrphan?.({ params, pid, via: 'pidFile', file: r.pidFile!, cmdline: identity?.cmdline ?? [r.command] });
    return { pid, child: undefined, exited: undefined, identity };
  };

  /** The running instance, forgetting one whose leader has exited. */
  const current = (r: Resolved, params: ProcessParams): Instance | undefined => {
    const known = instances.get(r.key);
    if (known !== undefined) {
      const exited = known.child !== undefined && (known.child.exitCode !== null || known.child.signalCode !== null);
      const alive = known.identity !== undefined && known.child === undefined ? mismatch(known.pid, known.identity) === undefined : pidAlive(known.pid);
      if (!exited && alive) return known;
      return undefined;
    }
    const adopted = adopt(r, params);
    if (adopted === undefined) return undefined;
    instances.set(r.key, adopted);
    return adopted;
  };

  /** The group to signal: the instance's, even if its leader died and left children behind. */
  const groupOf = (r: Resolved, params: ProcessParams): Instance | undefined => {
    const known = instances.get(r.key);
    if (known !== undefined) return known;
    const adopted = adopt(r, params);
    if (adopted !== undefined) instances.set(r.key, adopted);
    return adopted;
  };

  const forget = (r: Resolved): void => {
    instances.delete(r.key);
    removePidFile(r);
    if (recordsDir !== undefined) removeRecord(recordsDir, r.key);
  };

  const spawnChild = async (r: Resolved): Promise<Instance> => {
    let logFd: number | undefined;
    try {
      if (r.logFile !== undefined) logFd = openSync(r.logFile, 'a');
      const child = spawn(r.command, r.args, {
        cwd: r.cwd,
        env: { ...process.env, ...r.env },
        detached: true,
        stdio: logFd === undefined ? 'ignore' : ['ignore', logFd, logFd],
      });
      const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
      await new Promise<void>((resolveSpawn, reject) => {
        child.once('spawn', resolveSpawn);
        child.once('error', reject);
      });
      // The cluster, not this handle, decides how long the child lives.
      child.unref();
      const pid = child.pid;
      if (pid === undefined) throw new AgentError(OCF.ERR_GENERIC, `${r.command}: spawned without a PID`);
      return { pid, child, exited, identity: undefined };
    } catch (error) {
      if (error instanceof AgentError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new AgentError(OCF.ERR_INSTALLED, `${r.command}: not found (or cwd ${r.cwd ?? '.'} does not exist)`);
      if (code === 'EACCES') throw new AgentError(OCF.ERR_PERM, `${r.command}: permission denied`);
      throw new AgentError(OCF.ERR_GENERIC, `${r.command}: ${(error as Error).message}`);
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
  };

  /**
   * SIGTERM, then SIGKILL after stopTimeoutMs; an aborted stop goes straight to SIGKILL. An
   * adopted process's identity is checked again before each signal: between two signals it may
   * have exited and its PID been reused.
   */
  const terminate = async (r: Resolved, instance: Instance, signal: AbortSignal): Promise<void> => {
    const pgid = instance.pid;
    const ours = (): boolean => mayStillBeOurs(pgid, instance.identity);
    const alive = (): boolean => ours() && groupAlive(pgid);
    const kill = (how: NodeJS.Signals): void => {
      if (ours()) signalGroup(pgid, how);
    };
    if (alive()) {
      kill('SIGTERM');
      let gone: boolean;
      try {
        gone = await waitUntil(() => !alive(), r.stopTimeoutMs, signal);
      } catch (error) {
        kill('SIGKILL');
        throw error;
      }
      if (!gone) {
        kill('SIGKILL');
        // SIGKILL cannot be caught; the wait is only for the kernel, bounded by the op timeout.
        await waitUntil(() => !alive(), Number.POSITIVE_INFINITY, signal);
      }
    }
    forget(r);
  };

  const monitorResolved = async (r: Resolved, params: ProcessParams, signal: AbortSignal): Promise<MonitorResult> => {
    if (current(r, params) === undefined) return 'not-running';
    return (await healthy(r, signal)) ? 'running' : 'failed';
  };

  return {
    async start({ params, signal }: AgentContext<ProcessParams>) {
      const r = resolve(params);
      let instance = current(r, params);
      let spawned = false;
      if (instance === undefined) {
        // Children the dead leader left behind would otherwise run on, untracked, next to the new copy.
        const remains = instances.get(r.key);
        if (remains !== undefined && mayStillBeOurs(remains.pid, remains.identity) && groupAlive(remains.pid)) signalGroup(remains.pid, 'SIGKILL');
        instance = await spawnChild(r);
        instances.set(r.key, instance);
        spawned = true;
      }
      const started = instance;
      try {
        if (spawned && recordsDir !== undefined) {
          // Recorded before start reports success: a kill -9 of the node from here on leaves a
          // child that the next run must be able to find.
          const identity = identityOf(started.pid);
          if (identity !== undefined) writeRecord(recordsDir, { version: 1, key: r.key, pid: started.pid, identity, recordedAtMs: Date.now() });
        }
        if (spawned && r.pidFile !== undefined) writeFileSync(r.pidFile, `${started.pid}\n`);
        for (;;) {
          if (current(r, params) !== started) {
            // /proc can show the death before Node has reaped the child and knows its exit code.
            if (started.exited !== undefined) await Promise.race([started.exited, sleep(1000, undefined, { signal })]);
            const child = started.child;
            const how = child?.signalCode != null ? `signal ${child.signalCode}` : `code ${child?.exitCode ?? '?'}`;
            throw new AgentError(OCF.ERR_GENERIC, `${r.command} exited with ${how} during start`);
          }
          if (await healthy(r, signal)) return;
          await sleep(r.checkIntervalMs, undefined, { signal });
        }
      } catch (error) {
        // A half-started process must not linger until someone thinks to stop it.
        if (mayStillBeOurs(started.pid, started.identity)) signalGroup(started.pid, 'SIGKILL');
        forget(r);
        throw error;
      }
    },

    async stop({ params, signal }: AgentContext<ProcessParams>) {
      const r = resolve(params);
      const instance = groupOf(r, params);
      if (instance === undefined) {
        forget(r);
        return;
      }
      await terminate(r, instance, signal);
    },

    async monitor({ params, signal }: AgentContext<ProcessParams>) {
      return monitorResolved(resolve(params), params, signal);
    },

    async validate({ params }: AgentContext<ProcessParams>) {
      resolve(params);
    },

    metaData() {
      return META_DATA;
    },

    pidOf(params: ProcessParams) {
      return current(resolve(params), params)?.pid;
    },
  };
}
