/**
 * The admin socket's protocol: JSON lines over a Unix socket, one request per line, one response
 * per request (matched by id), and for `watch` a stream of events with the request's id.
 *
 *   → {"v":1,"id":1,"cmd":"status"}
 *   ← {"v":1,"id":1,"ok":true,"result":{...}}
 *   ← {"v":1,"id":2,"ok":false,"error":{"code":"SANODE_ADMIN_DENIED","message":"..."}}
 *
 * `v` is the protocol version: a server answers requests of versions it knows and refuses others
 * with SANODE_ADMIN_PROTOCOL, so a newer CLI against an older node says so instead of guessing.
 * Command names and result fields are append-only within a version.
 */
export const ADMIN_PROTOCOL_VERSION = 1;

/** Commands that only read; the read-only socket answers these and refuses every other. */
export const READ_COMMANDS = [
  'status',
  'watch',
  'resource.list',
  'resource.status',
  'node.list',
  'config.show',
  'config.verify',
  'property.list',
  'links',
  'quorum',
  'members',
] as const;

export const WRITE_COMMANDS = [
  'resource.start',
  'resource.stop',
  'resource.restart',
  'resource.move',
  'resource.ban',
  'resource.clear',
  'resource.cleanup',
  'node.standby',
  'node.online',
  'config.apply',
  'property.set',
  'leave',
  'node.maintenance',
] as const;

export type AdminCommand = (typeof READ_COMMANDS)[number] | (typeof WRITE_COMMANDS)[number];

export interface AdminRequest {
  readonly v: number;
  readonly id: number;
  readonly cmd: AdminCommand;
  readonly args?: Record<string, unknown>;
}

export type AdminResponse =
  | { readonly v: number; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly v: number; readonly id: number; readonly ok: false; readonly error: { readonly code: string; readonly message: string } }
  | { readonly v: number; readonly id: number; readonly event: unknown };

export const isCommand = (cmd: unknown): cmd is AdminCommand =>
  typeof cmd === 'string' && ((READ_COMMANDS as readonly string[]).includes(cmd) || (WRITE_COMMANDS as readonly string[]).includes(cmd));

export const isReadCommand = (cmd: AdminCommand): boolean => (READ_COMMANDS as readonly string[]).includes(cmd);
