/**
 * The `sanode` command tree (commander: it gives every command and subcommand its own --help,
 * typo suggestions for commands and options, and usage errors with exit code 2, which the
 * hand-rolled parseArgs dispatcher did not).
 *
 * Exit codes, for scripts and service managers:
 *   0 done; 1 the node refused or the command failed; 2 usage error;
 *   3 no node answers on the admin socket; 4 not allowed to use the admin socket;
 *   `run` and `config import-pacemaker --strict` document their own.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { adminRequest, adminWatch, resolveSocketPath, ADMIN_SOCKET_ENV } from '../admin/client.js';
import type { AdminCommand } from '../admin/protocol.js';
import { formatStatus, type StatusReport } from '../admin/report.js';
import { clusterFileJsonSchema } from '../config/schema.js';
import { loadClusterFile } from '../config/file.js';
import { resolveJoinOptions } from '../runtime/options.js';
import { resolveQuorumConfig } from '../quorum/index.js';
import { loadKeyFile } from '../wire/index.js';
import { isSanodeError } from '../errors/index.js';
import { runSidecar } from '../sidecar/run.js';
import { describeAgent, formatDescription, listAgents } from './agents.js';
import { importPacemakerCommand } from './config-import.js';
import { keygenCommand } from './keygen.js';
import { simulateCommand } from './simulate.js';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env?: NodeJS.ProcessEnv;
}

export const EXIT_CODES = { ok: 0, failed: 1, usage: 2, unavailable: 3, denied: 4 } as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const env = io.env ?? process.env;
  const program = new Command('sanode')
    .description('High availability for services: run a node from cluster.yaml, and look after a running cluster through its admin socket.')
    .version(version(), '-V, --version')
    .enablePositionalOptions()
    .option('--socket <path>', `admin socket of the node to talk to (default: $${ADMIN_SOCKET_ENV}, else the default path)`)
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .showSuggestionAfterError(true)
    .addHelpText('after', '\nExit codes: 0 done, 1 refused or failed, 2 usage error, 3 no node answers on the socket, 4 not allowed to use the socket.\n');

  const socketOf = (cmd: Command): string => resolveSocketPath(cmd.optsWithGlobals<{ socket?: string }>().socket, env);
  /** Sends one admin command and prints its answer as text (render) or JSON (--json). */
  const call = async (cmd: Command, name: AdminCommand, args: Record<string, unknown> | undefined, render: (result: never) => string): Promise<void> => {
    const result = await adminRequest(socketOf(cmd), name, args);
    io.stdout.write(cmd.opts<{ json?: boolean }>().json === true ? json(result) : render(result as never));
  };
  const leaf = (parent: Command, name: string, description: string) =>
    parent.command(name).description(description).option('--json', 'print the answer as JSON (stable, versioned)');

  program
    .command('run')
    .description('run one node from a cluster.yaml (the sidecar); SIGTERM leaves gracefully, SIGHUP reloads the resources')
    .argument('<file>', 'the cluster.yaml')
    .addOption(new Option('--log-format <format>', 'json lines or pretty').choices(['json', 'pretty']))
    .addOption(new Option('--log-level <level>', 'lowest level logged').choices(['trace', 'debug', 'info', 'warn', 'error']))
    .addHelpText('after', '\nExit codes: 0 left cleanly, 78 the file is wrong (fix it; do not restart), 75 could not start (port in use, node already runs), 1 other failure.\n')
    .action(async (file: string, opts: { logFormat?: 'json' | 'pretty'; logLevel?: 'info' }, cmd: Command) => {
      const socket = cmd.optsWithGlobals<{ socket?: string }>().socket;
      setExit(await runSidecar({ file, ...(socket === undefined ? {} : { socket }), ...(opts.logFormat === undefined ? {} : { logFormat: opts.logFormat }), ...(opts.logLevel === undefined ? {} : { logLevel: opts.logLevel }), stderr: io.stderr }));
    });

  leaf(program, 'status', 'one screen: quorum, coordinator and epoch, nodes, resources and where they run, failed actions, links (like crm_mon -1)')
    .option('--watch', 'keep printing it on every change (like crm_mon)')
    .action(async (opts: { json?: boolean; watch?: boolean }, cmd: Command) => {
      const print = (r: unknown) => io.stdout.write(opts.json === true ? `${JSON.stringify(r)}\n` : `${formatStatus(r as StatusReport)}\n`);
      if (opts.watch !== true) return call(cmd, 'status', undefined, (r: StatusReport) => formatStatus(r));
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await adminWatch(socketOf(cmd), print, stop.signal);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  const resource = program.command('resource').description('list, inspect, start, stop, move, ban, clear and clean up resources (like crm_resource / pcs resource)');
  const resourceLine = (r: StatusReport['resources'][number]) => [r.parent === undefined ? r.id : `${r.parent}/${r.id}`, r.agent, r.running.length === 0 ? 'Stopped' : r.running.map((a) => `${a.role}${a.failed ? ' FAILED' : ''} on ${a.node}`).join(', ')];
  leaf(resource, 'list', 'every resource, its agent and where it runs').action(async (_o, cmd: Command) => {
    const report = (await adminRequest(socketOf(cmd), 'status')) as StatusReport;
    io.stdout.write(cmd.opts<{ json?: boolean }>().json === true ? json(report.resources) : table(report.resources.map(resourceLine)) || 'no resources\n');
  });
  leaf(resource, 'status', 'where one resource (or a group or clone) runs, its fail counts')
    .argument('<rsc>')
    .action((rsc: string, _o, cmd: Command) => call(cmd, 'resource.status', { rsc }, (rs: StatusReport['resources']) => table(rs.map((r) => [...resourceLine(r), Object.keys(r.failCounts).length === 0 ? '' : `fail counts ${JSON.stringify(r.failCounts)}`]))));
  for (const [name, what] of [
    ['start', 'let it run (target-role Started)'],
    ['stop', 'stop it everywhere (target-role Stopped)'],
    ['restart', 'stop it, wait until it has stopped, start it again'],
    ['clear', 'remove the constraints move and ban made'],
  ] as const) {
    leaf(resource, name, what)
      .argument('<rsc>', 'a top-level resource id')
      .action((rsc: string, _o, cmd: Command) => call(cmd, `resource.${name}`, { rsc }, () => `${rsc}: ${name} done\n`));
  }
  leaf(resource, 'move', 'prefer NODE for it until `resource clear` (like crm_resource --move)')
    .argument('<rsc>')
    .argument('<node>')
    .action((rsc: string, node: string, _o, cmd: Command) => call(cmd, 'resource.move', { rsc, node }, (r: { constraint: string }) => `${rsc}: prefers ${node} (constraint ${r.constraint}; undo with sanode resource clear ${rsc})\n`));
  leaf(resource, 'ban', 'keep it off NODE until `resource clear` (like crm_resource --ban)')
    .argument('<rsc>')
    .argument('<node>')
    .action((rsc: string, node: string, _o, cmd: Command) => call(cmd, 'resource.ban', { rsc, node }, (r: { constraint: string }) => `${rsc}: banned from ${node} (constraint ${r.constraint}; undo with sanode resource clear ${rsc})\n`));
  leaf(resource, 'cleanup', 'forget its failures (on one node or all) and probe it again')
    .argument('<rsc>')
    .option('--node <node>', 'only on this node')
    .action((rsc: string, opts: { node?: string }, cmd: Command) => call(cmd, 'resource.cleanup', { rsc, ...(opts.node === undefined ? {} : { node: opts.node }) }, () => `${rsc}: cleaned up\n`));

  const node = program.command('node').description('list nodes; standby, online and maintenance (like crm node / pcs node)');
  leaf(node, 'list', 'every configured node and its state').action((_o, cmd: Command) => call(cmd, 'node.list', undefined, (ns: StatusReport['nodes']) => table(ns.map((n) => [n.name, n.id, n.state]))));
  for (const [name, what] of [
    ['standby', 'move resources away from NODE (default: the node answering)'],
    ['online', 'let NODE run resources again'],
  ] as const) {
    leaf(node, name, what)
      .argument('[node]')
      .action((n: string | undefined, _o, cmd: Command) => call(cmd, `node.${name}`, n === undefined ? undefined : { node: n }, (r: { node: string }) => `${r.node}: ${name}\n`));
  }
  leaf(node, 'maintenance', 'leave what runs on NODE as it is: nothing is started, stopped or recovered there; "off" manages it again (like pcs node maintenance / unmaintenance)')
    .argument('<node>')
    .argument('[state]', 'on or off', 'on')
    .action((n: string, state: string, _o, cmd: Command) => {
      if (state !== 'on' && state !== 'off') {
        io.stderr.write(`sanode node maintenance: state is on or off, got '${state}'\n`);
        setExit(EXIT_CODES.usage);
        return;
      }
      return call(cmd, 'node.maintenance', { node: n, on: state === 'on' }, (r: { node: string; maintenance: boolean; transient?: string }) =>
        `${r.node}: maintenance ${r.maintenance ? 'on' : 'off'}${r.maintenance && state === 'off' ? ` (a transient maintenance=${r.transient ?? '?'} attribute still holds it)` : ''}\n`,
      );
    });

  const config = program.command('config').description('show, verify, apply and import the configuration');
  leaf(config, 'show', 'the running CIB configuration, as JSON').action(async (_o, cmd: Command) => {
    io.stdout.write(json(await adminRequest(socketOf(cmd), 'config.show')));
  });
  const printPlan = (r: { diff: string[]; warnings: string[]; applied?: boolean }, applying: boolean) =>
    `${r.warnings.map((w) => `WARNING: ${w}\n`).join('')}${r.diff.length === 0 ? 'no change\n' : `${r.diff.join('\n')}\n`}${applying && r.applied === true ? 'applied\n' : ''}`;
  leaf(config, 'verify', 'check a cluster.yaml as joinCluster would (options, quorum, key file); with --live, also show what applying it would change')
    .argument('<file>')
    .option('--live', 'ask the running node for the diff (nothing is changed)')
    .action(async (file: string, opts: { live?: boolean; json?: boolean }, cmd: Command) => {
      const loaded = loadClusterFile(file);
      // What joinCluster checks before it binds anything: options, quorum arithmetic, the key file.
      const resolved = resolveJoinOptions(loaded.options);
      resolveQuorumConfig(resolved.quorum);
      if (resolved.security.mode === 'secure' && resolved.security.keyFile !== undefined) {
        await loadKeyFile(resolved.security.keyFile, { allowOpenPermissions: resolved.security.allowOpenKeyPermissions });
      }
      if (opts.live !== true) {
        io.stdout.write(opts.json === true ? json({ file: loaded.path, valid: true }) : `${loaded.path}: valid\n`);
        return;
      }
      await call(cmd, 'config.verify', { config: loaded.file.cib ?? { resources: [] } }, (r: { diff: string[]; warnings: string[] }) => printPlan(r, false));
    });
  leaf(config, 'apply', "replace the running resources, constraints and properties with the file's (checked, diff shown, applied in agreed order)")
    .argument('<file>')
    .option('--dry-run', 'show the diff only')
    .action(async (file: string, opts: { dryRun?: boolean }, cmd: Command) => {
      const loaded = loadClusterFile(file);
      await call(cmd, opts.dryRun === true ? 'config.verify' : 'config.apply', { config: loaded.file.cib ?? { resources: [] } }, (r: { diff: string[]; warnings: string[]; applied?: boolean }) => printPlan(r, true));
    });
  config
    .command('import-pacemaker')
    .description("convert a Pacemaker CIB (cibadmin -Q) to sanode's configuration; see --help")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .action(async (_o, cmd: Command) => setExit(await importPacemakerCommand(cmd.args, io)));
  config
    .command('schema')
    .description('print the JSON Schema of cluster.yaml (for editors)')
    .action(() => void io.stdout.write(json(clusterFileJsonSchema())));

  const property = program.command('property').description('cluster properties (like pcs property / crm configure property)');
  leaf(property, 'list', 'the properties set').action((_o, cmd: Command) => call(cmd, 'property.list', undefined, (p: Record<string, unknown>) => table(Object.entries(p).map(([k, v]) => [k, String(v)])) || 'no properties set (defaults apply)\n'));
  leaf(property, 'set', 'set a property: noQuorumPolicy, maintenanceMode, stonithEnabled, symmetricCluster; "unset" removes it')
    .argument('<name>')
    .argument('<value>')
    .action((name: string, value: string, _o, cmd: Command) =>
      call(cmd, 'property.set', { name, value: value === 'unset' ? null : value }, (r: { warnings: string[] }) => `${r.warnings.map((w) => `WARNING: ${w}\n`).join('')}${name} = ${value}\n`),
    );

  leaf(program, 'links', 'each link and whether each peer is heard on it (like corosync-cfgtool -s)').action((_o, cmd: Command) =>
    call(cmd, 'links', undefined, (links: StatusReport['links']) =>
      links.map((l) => `link ${l.link} (${l.mode}, ${l.local}):\n${l.peers.map((p) => `  node ${p.node}: ${p.healthy ? 'connected' : 'DISCONNECTED'}${p.lastHeardAgoMs === null ? ', never heard' : `, heard ${Math.round(p.lastHeardAgoMs)} ms ago`}`).join('\n')}\n`).join(''),
    ),
  );
  leaf(program, 'quorum', 'quorate or not, and why (like corosync-quorumtool)').action((_o, cmd: Command) =>
    call(cmd, 'quorum', undefined, (r: { quorum: { quorate: boolean; reason: string }; view?: { seq: number; members: number[] } }) =>
      `Quorate: ${r.quorum.quorate ? 'yes' : 'no'} (${r.quorum.reason})\nView: ${r.view === undefined ? 'none' : `seq ${r.view.seq}, members ${r.view.members.join(', ')}`}\n`,
    ),
  );
  leaf(program, 'members', 'the current membership view').action((_o, cmd: Command) =>
    call(cmd, 'members', undefined, (r: { view?: number; members: number[]; coordinator?: number; epoch?: number }) =>
      `view ${r.view ?? 'none'}: ${r.members.join(', ') || 'no members'}; coordinator ${r.coordinator ?? 'none'}${r.epoch === undefined ? '' : `, epoch ${r.epoch}`}\n`,
    ),
  );
  leaf(program, 'leave', 'make the node leave the cluster gracefully (its resources move first); the sidecar then exits').action((_o, cmd: Command) =>
    call(cmd, 'leave', undefined, () => 'leaving\n'),
  );

  const agents = program.command('agents').description('the resource agents this host can run (like crm ra list / pcs resource describe)');
  leaf(agents, 'list', 'shipped agents and the OCF agents installed here').action((opts: { json?: boolean }) => {
    const list = listAgents(env['OCF_ROOT']);
    io.stdout.write(opts.json === true ? json(list) : table(list.map((a) => [a.agent, a.note ?? ''])));
  });
  leaf(agents, 'describe', "an agent's parameters, from its meta-data")
    .argument('<agent>', 'sanode:TYPE or ocf:PROVIDER:TYPE')
    .action(async (agent: string, opts: { json?: boolean }) => {
      const d = await describeAgent(agent);
      io.stdout.write(opts.json === true ? json(d) : formatDescription(d));
    });

  program
    .command('keygen')
    .description('write a new random cluster key (like corosync-keygen); see --help')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .action(async (_o, cmd: Command) => setExit(await keygenCommand(cmd.args, io)));
  program
    .command('simulate')
    .description("run the scheduler offline on a CIB file or, with --live, on the running cluster's CIB (like crm_simulate); see --help")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .action(async (_o, cmd: Command) => setExit(await simulateCommand(cmd.args, io, cmd.optsWithGlobals<{ socket?: string }>().socket)));

  // Every command, at every depth, reports usage errors the same way.
  const configure = (c: Command) => {
    c.exitOverride().configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) }).showSuggestionAfterError(true);
    for (const sub of c.commands) configure(sub);
  };
  configure(program);
  return program;
}

/** Runs the command line; returns the exit code (never calls process.exit, so it is testable). */
export async function runCli(argv: string[], io: CliIo = process): Promise<number> {
  let code: number = EXIT_CODES.ok;
  const program = buildProgram(io, (c) => (code = c));
  if (argv.length === 0) {
    io.stdout.write(program.helpInformation());
    return EXIT_CODES.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_CODES.ok;
      // commander has printed the message (with a suggestion where it has one).
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    if (isSanodeError(error)) {
      io.stderr.write(`sanode: ${error.message} [${error.code}]\n`);
      return error.code === 'SANODE_ADMIN_UNAVAILABLE' ? EXIT_CODES.unavailable : error.code === 'SANODE_ADMIN_DENIED' ? EXIT_CODES.denied : EXIT_CODES.failed;
    }
    throw error;
  }
}
