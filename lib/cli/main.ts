#!/usr/bin/env node
/**
 * The `sanode` command. Each subcommand lives in its own module and returns an exit code, so
 * the dispatcher stays a table and subcommands stay testable without spawning processes.
 */
import { isSanodeError } from '../errors/index.js';
import { configCommand } from './config-import.js';
import { keygenCommand } from './keygen.js';
import { simulateCommand } from './simulate.js';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { run: Command; summary: string }> = {
  keygen: { run: keygenCommand, summary: 'write a new random cluster key (like corosync-keygen)' },
  simulate: { run: simulateCommand, summary: 'run the scheduler offline on a CIB file (like crm_simulate)' },
  config: { run: configCommand, summary: 'config import-pacemaker CIB.xml: convert a Pacemaker CIB' },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: sanode <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`sanode: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (isSanodeError(error)) {
      process.stderr.write(`sanode ${name}: ${error.message} [${error.code}]\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
