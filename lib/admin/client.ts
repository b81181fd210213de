/**
 * The command line's side of the admin socket: one request, one answer; or a watch stream.
 * Errors come back as SanodeErrors with the server's code, or SANODE_ADMIN_UNAVAILABLE /
 * SANODE_ADMIN_DENIED when the socket cannot be reached, with what to do about it.
 */
import { connect, type Socket } from 'node:net';
import { SanodeError, type ErrorCode } from '../errors/index.js';
import { ADMIN_PROTOCOL_VERSION, type AdminCommand } from './protocol.js';
import { defaultAdminSocket } from './server.js';

export const ADMIN_SOCKET_ENV = 'SANODE_ADMIN_SOCKET';

/** `--socket PATH`, else $SANODE_ADMIN_SOCKET, else the default path. */
export function resolveSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env[ADMIN_SOCKET_ENV] ?? defaultAdminSocket(env);
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EACCES' || error.code === 'EPERM') {
        reject(new SanodeError('SANODE_ADMIN_DENIED', `not allowed to use the admin socket ${path}; run as root (or as a member of the socket's group)`));
      } else {
        reject(
          new SanodeError(
            'SANODE_ADMIN_UNAVAILABLE',
            `no sanode node answers on ${path} (${error.code ?? error.message}); is it running? Give the socket with --socket PATH or ${ADMIN_SOCKET_ENV}`,
          ),
        );
      }
    });
  });
}

function lines(socket: Socket, onLine: (message: Record<string, unknown>) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not ours to interpret; the request's timeout reports the silence
      }
    }
  });
}

export async function adminRequest(path: string, cmd: AdminCommand, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
  const socket = await open(path);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SanodeError('SANODE_ADMIN_UNAVAILABLE', `no answer to '${cmd}' from ${path} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new SanodeError('SANODE_ADMIN_UNAVAILABLE', `the node closed the admin socket ${path} before answering '${cmd}'`));
      });
      lines(socket, (message) => {
        if (message.id !== 1) return;
        clearTimeout(timer);
        if (message.ok === true) resolve(message.result);
        else {
          const error = (message.error ?? {}) as { code?: string; message?: string };
          reject(new SanodeError((error.code ?? 'SANODE_ADMIN_PROTOCOL') as ErrorCode, error.message ?? 'the node refused the request'));
        }
      });
      socket.write(`${JSON.stringify({ v: ADMIN_PROTOCOL_VERSION, id: 1, cmd, ...(args === undefined ? {} : { args }) })}\n`);
    });
  } finally {
    socket.destroy();
  }
}

/** Calls onEvent with each status report until the signal aborts or the node goes away. */
export async function adminWatch(path: string, onEvent: (report: unknown) => void, signal: AbortSignal): Promise<void> {
  const socket = await open(path);
  await new Promise<void>((resolve, reject) => {
    const stop = () => {
      socket.destroy();
      resolve();
    };
    signal.addEventListener('abort', stop, { once: true });
    socket.once('close', () => {
      signal.removeEventListener('abort', stop);
      if (signal.aborted) resolve();
      else reject(new SanodeError('SANODE_ADMIN_UNAVAILABLE', `the node closed the admin socket ${path}`));
    });
    lines(socket, (message) => {
      if (message.event !== undefined) onEvent(message.event);
      else if (message.ok === false) {
        const error = (message.error ?? {}) as { code?: string; message?: string };
        reject(new SanodeError((error.code ?? 'SANODE_ADMIN_PROTOCOL') as ErrorCode, error.message ?? 'refused'));
        socket.destroy();
      }
    });
    socket.write(`${JSON.stringify({ v: ADMIN_PROTOCOL_VERSION, id: 1, cmd: 'watch' })}\n`);
  });
}
