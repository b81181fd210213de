/**
 * The cluster's shared secret on disk (like corosync's authkey).
 *
 * A key file holds 32..1024 raw bytes. `sanode keygen` writes 32 random bytes; longer files are
 * accepted so an existing corosync 128-byte authkey can be reused. Whatever the length, the
 * AEAD key is BLAKE2b-256 of the file's bytes (domain-separated), so all lengths behave alike.
 */
import { constants as fsConstants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SanodeError } from '../errors/index.js';
import { sodium } from './sodium.js';

export const KEY_BYTES = 32;
export const MIN_KEY_FILE_BYTES = 32;
export const MAX_KEY_FILE_BYTES = 1024;
const KEY_FILE_MODE = 0o600;

/** 32 bytes from the OS CSPRNG (libsodium randombytes_buf). */
export function generateKey(): Buffer {
  const key = Buffer.alloc(KEY_BYTES);
  sodium.randombytes_buf(key);
  return key;
}

/** The 32-byte key a key file's bytes stand for. */
export function deriveKeyFromFileBytes(bytes: Uint8Array): Buffer {
  const key = Buffer.alloc(KEY_BYTES);
  const input = Buffer.concat([Buffer.from('sanode/authkey/v1\0', 'utf8'), bytes]);
  sodium.crypto_generichash(key, input);
  sodium.sodium_memzero(input);
  return key;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as NodeJS.ErrnoException).code : undefined;
}

/**
 * Writes a fresh random key to `path` with mode 0600. Without `force` the file is created with
 * O_EXCL, so an existing key (which running nodes depend on) is never replaced by accident.
 * With `force` the key is written to a temporary file beside it and renamed over, so the file
 * is never seen half-written or with wider permissions.
 */
export async function writeKeyFile(path: string, options: { force?: boolean } = {}): Promise<void> {
  const key = generateKey();
  const target = options.force === true ? join(dirname(path), `.${basename(path)}.${process.pid}.${generateKey().toString('hex', 0, 6)}.tmp`) : path;
  let handle;
  try {
    handle = await open(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, KEY_FILE_MODE);
  } catch (error) {
    if (errorCode(error) === 'EEXIST' && options.force !== true) {
      throw new SanodeError(
        'SANODE_KEY_EXISTS',
        `key file ${path} already exists; refusing to overwrite it (nodes using it would stop hearing each other). ` +
          'Pass --force (or { force: true }) to replace it, then copy the new key to every node.',
        { field: 'keyFile', cause: error },
      );
    }
    throw error;
  }
  try {
    // The umask can only narrow the mode; chmod makes it exactly 0600 even if the umask is odd.
    await handle.chmod(KEY_FILE_MODE);
    await handle.writeFile(key);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(target).catch(() => undefined);
    throw error;
  } finally {
    sodium.sodium_memzero(key);
  }
  await handle.close();
  if (target !== path) {
    try {
      await rename(target, path);
    } catch (error) {
      await unlink(target).catch(() => undefined);
      throw error;
    }
  }
}

/**
 * Reads a key file and returns the derived 32-byte wire key.
 * Refuses a file that group or others can access unless `allowOpenPermissions` is set: a key
 * that other local users can read is not a secret.
 */
export async function loadKeyFile(path: string, options: { allowOpenPermissions?: boolean } = {}): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      throw new SanodeError(
        'SANODE_KEY_MISSING',
        `key file ${path} does not exist; create one with \`sanode keygen --out ${path}\` and copy it to every node`,
        { field: 'keyFile', cause: error },
      );
    }
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new SanodeError('SANODE_KEY_INVALID', `key file ${path} is not a regular file`, { field: 'keyFile' });
    }
    const permissions = stat.mode & 0o777;
    if ((permissions & 0o077) !== 0 && options.allowOpenPermissions !== true) {
      throw new SanodeError(
        'SANODE_KEY_TOO_OPEN',
        `key file ${path} has mode 0${permissions.toString(8)}, so other users can read or change it; run \`chmod 600 ${path}\``,
        { field: 'keyFile' },
      );
    }
    // Read one byte past the limit so an oversized file is told apart from a full-sized one.
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    try {
      if (length < MIN_KEY_FILE_BYTES || length > MAX_KEY_FILE_BYTES) {
        throw new SanodeError(
          'SANODE_KEY_INVALID',
          `key file ${path} is ${length > MAX_KEY_FILE_BYTES ? `more than ${MAX_KEY_FILE_BYTES}` : length} bytes; ` +
            `a key file holds ${MIN_KEY_FILE_BYTES} to ${MAX_KEY_FILE_BYTES} bytes. Generate one with \`sanode keygen --out ${path}\``,
          { field: 'keyFile' },
        );
      }
      return deriveKeyFromFileBytes(buffer.subarray(0, length));
    } finally {
      sodium.sodium_memzero(buffer);
    }
  } finally {
    await handle.close();
  }
}
