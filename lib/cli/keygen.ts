/**
 * `sanode keygen [--out FILE] [--force]`: writes a new random cluster key, like corosync-keygen.
 *
 * The same file must then be copied (over a secure channel) to every node of the cluster.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isSanodeError } from '../errors/index.js';
import { KEY_BYTES, writeKeyFile } from '../wire/keys.js';

export const DEFAULT_KEY_FILE = '/etc/sanode/authkey';

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: sanode keygen [--out FILE] [--force]

Writes ${KEY_BYTES} random bytes to FILE (default ${DEFAULT_KEY_FILE}) with mode 0600,
creating its directory with mode 0700 if missing. Refuses to replace an existing key
unless --force is given. Copy the file to every node over a secure channel.
`;

/** Returns the exit code: 0 written, 1 refused or failed, 2 usage error. */
export async function keygenCommand(argv: string[], io: CommandIo = process): Promise<number> {
  let values: { out?: string; force?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', short: 'o' },
        force: { type: 'boolean', short: 'f' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr.write(`sanode keygen: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values.out === '') {
    io.stderr.write(`sanode keygen: --out needs a file name\n\n${USAGE}`);
    return 2;
  }
  const path = resolve(values.out ?? DEFAULT_KEY_FILE);
  const force = values.force === true;
  try {
    // The directory only ever holds secrets, so nobody else needs to list it.
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeKeyFile(path, { force });
  } catch (error) {
    if (isSanodeError(error)) {
      io.stderr.write(`sanode keygen: ${error.message} [${error.code}]\n`);
      return 1;
    }
    const code = (error as NodeJS.ErrnoException).code;
    io.stderr.write(`sanode keygen: could not write ${path}: ${(error as Error).message}${code === 'EACCES' ? ' (run as root, or choose --out)' : ''}\n`);
    return 1;
  }
  io.stdout.write(
    `${force ? 'replaced' : 'wrote'} ${KEY_BYTES}-byte cluster key ${path} (mode 0600); copy it to every node over a secure channel\n`,
  );
  return 0;
}
