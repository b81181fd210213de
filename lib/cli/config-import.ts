/**
 * `sanode config import-pacemaker CIB.xml [--out FILE]`: converts the XML a Pacemaker cluster
 * prints with `cibadmin -Q` into sanode's JSON configuration. The JSON goes to stdout (or FILE);
 * every element, attribute or value that sanode cannot express is listed on stderr, so nothing is
 * lost without the user being told.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isSanodeError } from '../errors/index.js';
import { importPacemakerXml, type ImportNote } from '../cib/pacemaker-import.js';

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: sanode config import-pacemaker CIB.xml [--out FILE] [--quiet] [--strict]

Converts a Pacemaker CIB (the output of cibadmin -Q) into sanode's JSON configuration, written to
stdout or FILE. What sanode cannot express is listed on stderr ("lost"), what is carried over but
weakens a safety ("WARNING"), and what Pacemaker keeps for itself and sanode does not need ("info";
--quiet hides these).
Exit code: 0 converted, 1 unreadable or invalid input, 2 usage error, 3 converted but something
was lost (only with --strict).
`;

const TAGS: Record<ImportNote['severity'], string> = { lost: 'lost', warn: 'WARNING', info: 'info' };

export function formatNotes(notes: ImportNote[], quiet: boolean, strict = false): string {
  const shown = notes.filter((n) => !quiet || n.severity !== 'info');
  if (shown.length === 0) return '';
  const count = (s: ImportNote['severity']) => notes.filter((n) => n.severity === s).length;
  const lostCount = count('lost');
  const warnCount = count('warn');
  const lines = shown.map((n) => `  ${TAGS[n.severity]}  ${n.at}: ${n.message}`);
  const summary = [
    `${lostCount} thing${lostCount === 1 ? '' : 's'} not carried over${lostCount > 0 && strict ? ' (--strict: exit code 3)' : ''}`,
    ...(warnCount > 0 ? [`${warnCount} WARNING${warnCount === 1 ? '' : 'S'}`] : []),
    ...(quiet ? [] : [`${count('info')} informational`]),
  ];
  return `import-pacemaker: ${summary.join(', ')}:\n${lines.join('\n')}\n`;
}

/** Returns the exit code: 0 converted (possibly with notes), 1 bad input, 2 usage error. */
export async function importPacemakerCommand(argv: string[], io: CommandIo = process): Promise<number> {
  let values: { out?: string; quiet?: boolean; strict?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { out: { type: 'string', short: 'o' }, quiet: { type: 'boolean', short: 'q' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    io.stderr.write(`sanode config import-pacemaker: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || values.out === '') {
    io.stderr.write(`sanode config import-pacemaker: give exactly one CIB.xml file\n\n${USAGE}`);
    return 2;
  }
  const file = positionals[0]!;
  let xml: string;
  try {
    xml = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    io.stderr.write(`sanode config import-pacemaker: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}\n`);
    return 1;
  }
  try {
    const { config, notes } = importPacemakerXml(xml);
    const json = `${JSON.stringify(config, null, 2)}\n`;
    if (values.out === undefined) io.stdout.write(json);
    else await writeFile(values.out, json);
    io.stderr.write(formatNotes(notes, values.quiet === true, values.strict === true));
    return values.strict === true && notes.some((n) => n.severity === 'lost') ? 3 : 0;
  } catch (error) {
    if (isSanodeError(error)) {
      io.stderr.write(`sanode config import-pacemaker: ${file}: ${error.message} [${error.code}]\n`);
      return 1;
    }
    throw error;
  }
}

/**
 * `sanode config import-pacemaker` as a table of its own, for callers outside the command tree;
 * the `sanode` command itself (program.ts) routes every config subcommand.
 */
const CONFIG_SUBCOMMANDS: Record<string, (argv: string[], io: CommandIo) => Promise<number>> = {
  'import-pacemaker': importPacemakerCommand,
};

export async function configCommand(argv: string[], io: CommandIo = process): Promise<number> {
  const [sub, ...rest] = argv;
  const run = sub === undefined ? undefined : CONFIG_SUBCOMMANDS[sub];
  if (run === undefined) {
    io.stderr.write(`usage: sanode config <${Object.keys(CONFIG_SUBCOMMANDS).join('|')}> ...\n`);
    return sub === '--help' || sub === '-h' ? 0 : 2;
  }
  return run(rest, io);
}
