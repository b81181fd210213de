/**
 * Every error sanode raises on purpose is a SanodeError with a stable `code`.
 *
 * Codes are part of the public API: callers switch on them, so a code once released never
 * changes meaning. The brand (a global symbol) lets `isSanodeError` work even when two copies of
 * sanode are installed side by side, where `instanceof` would fail.
 */
const brand = Symbol.for('sanode.error');

export type ErrorCode =
  // configuration and options
  | 'SANODE_INVALID_CONFIG'
  // CIB (cluster configuration for the scheduler)
  | 'SANODE_INVALID_CIB'
  // state files (<stateDir>/*.json)
  | 'SANODE_STATE_DAMAGED'
  | 'SANODE_INCARNATION_EXHAUSTED'
  // keys
  | 'SANODE_KEY_MISSING'
  | 'SANODE_KEY_INVALID'
  | 'SANODE_KEY_TOO_OPEN'
  | 'SANODE_KEY_EXISTS'
  // a warning (not thrown): frames of this cluster fail authentication
  | 'SANODE_KEY_MISMATCH'
  // wire
  | 'SANODE_MESSAGE_TOO_LARGE'
  | 'SANODE_COUNTER_EXHAUSTED'
  // transport
  | 'SANODE_ADDRESS_NOT_LOCAL'
  | 'SANODE_PORT_IN_USE'
  // runtime: a second copy of a node on one host (its state directory is locked)
  | 'SANODE_NODE_RUNNING'
  // admin socket and commands
  | 'SANODE_ADMIN_UNAVAILABLE'
  | 'SANODE_ADMIN_DENIED'
  | 'SANODE_ADMIN_PROTOCOL'
  | 'SANODE_ADMIN_FAILED'
  | 'SANODE_TRANSPORT_CLOSED'
  // totem / group messaging
  | 'SANODE_SEND_QUEUE_FULL'
  | 'SANODE_NOT_JOINED'
  | 'SANODE_NO_QUORUM'
  /** A CIB change was applied on this node but its ring broke before every member had it: it may be lost. */
  | 'SANODE_CIB_OUTCOME_UNKNOWN'
  // executor
  | 'SANODE_UNKNOWN_RESOURCE'
  | 'SANODE_EXECUTOR_CLOSED'
  // resources (reported as 'error' events by a running node)
  /** A node lost quorum or its lease and stopped its resources on its own. */
  | 'SANODE_SELF_STOP'
  /** An agent said a resource cannot run on this node (not installed, not configured). */
  | 'SANODE_RESOURCE_CANNOT_RUN'
  /** The CIB lists no node with this node's id: it keeps the CIB but runs no resources. */
  | 'SANODE_NODE_NOT_IN_CIB'
  /** This node's configured name differs from the CIB's name for its id; the CIB's name is used. */
  | 'SANODE_NODE_NAME_MISMATCH'
  /** A CIB write a node made on its own (a record, a state change) failed. */
  | 'SANODE_CIB_WRITE_FAILED'
  /** A probe found a live process an earlier run of this node started (it outlived a kill -9 or crash). */
  | 'SANODE_ORPHAN_FOUND'
  // agents
  /** The vip agent's nft lease cannot work here: nft, nf_tables or a family it needs is missing. */
  | 'SANODE_NFT_UNSUPPORTED';

export class SanodeError extends Error {
  readonly code: ErrorCode;
  /** The config field or option path the error is about, when there is one. */
  readonly field: string | undefined;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SanodeError';
    this.code = code;
    this.field = options.field;
  }
}

export class ConfigError extends SanodeError {
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super('SANODE_INVALID_CONFIG', `${field}: ${message}`, { field, ...options });
    this.name = 'ConfigError';
  }
}

export function isSanodeError(value: unknown): value is SanodeError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}
