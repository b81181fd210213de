/**
 * `sanode simulate --config FILE [--state FILE] [--node-down N …] [--node-fail N …] [--no-quorum]
 * [--show-scores] [--now TIME] [--json]`: runs the scheduler offline, like `crm_simulate -S`, and
 * prints where every resource would run, the actions that get there (in an order that satisfies
 * their dependencies) and, with --show-scores, the score of every node for every resource.
 *
 * Nothing here talks to a cluster: the files are read, the pure scheduler runs, text comes out.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isSanodeError } from '../errors/index.js';
import { adminRequest, resolveSocketPath } from '../admin/client.js';
import { cibFromConfigText, statusFromText } from '../cib/load.js';
import { formatScore, listPrimitives, type Cib, type NodeStatus } from '../cib/model.js';
import { CibError } from '../cib/validate.js';
import { schedule, type Action, type ScheduleResult } from '../scheduler/index.js';

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: sanode simulate --config FILE [options]
       sanode simulate --live [--socket PATH] [options]

Runs the scheduler offline on a configuration (sanode's JSON CIB format, see docs/scheduler.md)
and prints the placement and the ordered actions, like crm_simulate -S. Nothing is changed.

  --config FILE      the configuration, or a whole saved CIB (config + status)
  --live             the running cluster's CIB (config and status), read through a node's admin
                     socket (--socket PATH, else $SANODE_ADMIN_SOCKET, else the default path)
  --state FILE       the cluster status to start from (default: all nodes online, nothing running)
  --node-down NAME   take a node cleanly offline first (repeatable)
  --node-fail NAME   make a node unclean (lost without a clean stop) first (repeatable)
  --no-quorum        schedule as a partition without quorum
  --now TIME         the time failures are judged at (ISO 8601 or ms since epoch; default: now)
  --show-scores      print each resource's score on each node
  --json             print one JSON object instead of text
`;

export interface SimulateOptions {
  nodeDown: string[];
  nodeFail: string[];
  quorate: boolean;
  nowMs: number;
}

/** Applies --node-down / --node-fail to a CIB (a copy); unknown node names are errors. */
export function applyNodeEvents(cib: Cib, opts: Pick<SimulateOptions, 'nodeDown' | 'nodeFail'>): Cib {
  const names = new Set(cib.config.nodes.map((n) => n.name));
  const nodes: Record<string, NodeStatus> = { ...cib.status.nodes };
  const mark = (list: string[], flag: string, state: NodeStatus['state']): void => {
    for (const name of list) {
      if (!names.has(name)) throw new CibError(name, flag, `unknown node; configured nodes are ${[...names].join(', ')}`);
      nodes[name] = { ...(nodes[name] ?? { state: 'online' }), state };
    }
  };
  mark(opts.nodeDown, '--node-down', 'offline');
  mark(opts.nodeFail, '--node-fail', 'unclean');
  return { ...cib, status: { ...cib.status, nodes } };
}

export function runSimulation(cib: Cib, opts: SimulateOptions): ScheduleResult {
  return schedule(applyNodeEvents(cib, opts), { quorate: opts.quorate, nowMs: opts.nowMs });
}

function describeAction(a: Action): string {
  if (a.kind === 'fence') return `fence ${a.node}`;
  const every = a.kind === 'monitor' && (a.intervalMs ?? 0) > 0 ? ` every ${formatDurationMs(a.intervalMs!)}` : '';
  return `${a.kind} ${a.rsc}${every}`;
}

function formatDurationMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The text report: placement, fencing, the transition, and optionally the scores. */
export function renderText(cib: Cib, result: ScheduleResult, showScores: boolean): string {
  const out: string[] = [];
  const nodes = cib.config.nodes.map((n) => n.name);
  const state = (name: string): string => {
    const st = cib.status.nodes[name];
    const s = st?.state ?? 'online';
    const standby = (st?.standby ?? false) || (cib.config.nodes.find((n) => n.name === name)?.standby ?? false);
    return standby && s === 'online' ? 'standby' : s;
  };
  out.push(`Nodes: ${nodes.map((n) => `${n} (${state(n)})`).join(', ')}`, '');
  out.push('Placement:');
  const rows = listPrimitives(cib.config).map((info) => {
    const id = info.primitive.id;
    const where = result.placement[id] ?? [];
    const parent = info.clone?.id ?? info.group?.id ?? '';
    const at = where.length === 0 ? 'Stopped' : where.map((e) => `${e.node}${e.role === 'Started' ? '' : ` (${e.role})`}`).join(', ');
    return [`  ${id}`, parent, at];
  });
  out.push(...table(['  resource', 'in', 'runs on'], rows));
  if (result.ties.length > 0) out.push('', `Chosen among equally scored nodes: ${result.ties.join(', ')}`);
  out.push('');
  if (result.actions.length === 0) out.push('Transition: nothing to do');
  else {
    out.push(`Transition (${result.actions.length} action${result.actions.length === 1 ? '' : 's'}, in order):`);
    const number = new Map(result.actions.map((a, i) => [a.id, i + 1]));
    const actionRows = result.actions.map((a, i) => [
      `  ${i + 1}`,
      describeAction(a),
      a.kind === 'fence' ? '' : a.node,
      a.deps.length === 0 ? '-' : a.deps.map((d) => number.get(d)).join(', '),
    ]);
    out.push(...table(['  #', 'action', 'on', 'after'], actionRows));
  }
  if (showScores) {
    out.push('', 'Allocation scores:');
    const scoreRows = Object.entries(result.scores).map(([rsc, byNode]) => [`  ${rsc}`, ...nodes.map((n) => formatScore(byNode[n] ?? 0))]);
    out.push(...table(['  resource', ...nodes], scoreRows));
  }
  return `${out.join('\n')}\n`;
}

/** The JSON report: stable field names for machines. */
export function renderJson(result: ScheduleResult, showScores: boolean): string {
  const doc = {
    placement: result.placement,
    actions: result.actions.map((a) => ({ ...a })),
    fenced: result.fenced,
    ties: result.ties,
    ...(showScores ? { scores: result.scores } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function parseNow(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new CibError(undefined, '--now', `not a time: ${JSON.stringify(text)}; use ISO 8601 (2024-01-31T12:00:00Z) or ms since the epoch`);
  return ms;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new CibError(undefined, flag, `cannot read ${path}: ${why}`);
  }
}

/** Returns the exit code: 0 done, 1 a bad file or node name, 2 a usage error. */
export async function simulateCommand(argv: string[], io: CommandIo = process, socket?: string): Promise<number> {
  let values: {
    config?: string;
    state?: string;
    'node-down'?: string[];
    'node-fail'?: string[];
    'no-quorum'?: boolean;
    'show-scores'?: boolean;
    now?: string;
    json?: boolean;
    live?: boolean;
    socket?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        state: { type: 'string', short: 's' },
        'node-down': { type: 'string', multiple: true },
        'node-fail': { type: 'string', multiple: true },
        'no-quorum': { type: 'boolean' },
        'show-scores': { type: 'boolean' },
        now: { type: 'string' },
        json: { type: 'boolean' },
        live: { type: 'boolean' },
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr.write(`sanode simulate: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const live = values.live === true;
  if (live === (values.config !== undefined && values.config !== '')) {
    io.stderr.write(`sanode simulate: give --config FILE or --live (one of them)\n\n${USAGE}`);
    return 2;
  }
  // Names the file an error is in; empty once both files are read and checked.
  let file = '';
  try {
    const configText = live
      ? JSON.stringify(await adminRequest(resolveSocketPath(values.socket ?? socket), 'config.show', { whole: true }))
      : await readText(values.config!, '--config');
    const stateText = values.state === undefined ? undefined : await readText(values.state, '--state');
    file = live ? 'the live CIB' : values.config!;
    let cib = cibFromConfigText(configText);
    if (stateText !== undefined) {
      file = values.state!;
      cib = { ...cib, status: statusFromText(stateText, cib.config) };
    }
    file = '';
    const opts: SimulateOptions = {
      nodeDown: values['node-down'] ?? [],
      nodeFail: values['node-fail'] ?? [],
      quorate: values['no-quorum'] !== true,
      // The CLI, unlike the scheduler, may read the clock: it is the edge of the system.
      nowMs: parseNow(values.now, Date.now()),
    };
    const result = runSimulation(cib, opts);
    const showScores = values['show-scores'] === true;
    io.stdout.write(values.json === true ? renderJson(result, showScores) : renderText(applyNodeEvents(cib, opts), result, showScores));
    return 0;
  } catch (error) {
    if (isSanodeError(error)) {
      io.stderr.write(`sanode simulate: ${file === '' ? '' : `${file}: `}${error.message} [${error.code}]\n`);
      // 3, as for every command that finds no node on the admin socket.
      return error.code === 'SANODE_ADMIN_UNAVAILABLE' ? 3 : 1;
    }
    throw error;
  }
}
