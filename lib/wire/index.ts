/**
 * lib/wire: the authenticated, encrypted, replay-proof frame layer.
 *
 * Takes: messages to send (any msgpack-encodable value) and datagrams received, with the
 * caller's monotonic time and the link each came in on.
 * Emits: sealed datagrams (each <= maxDatagramBytes) and, per datagram, exactly one OpenResult.
 * Never: touches sockets, clocks or timers; throws from open(); keeps module-level state; lets
 * an unauthenticated frame change any state besides counters.
 *
 * Layout, nonce argument, replay rules and limits: docs/wire.md.
 */
export {
  DEFAULT_MAX_DATAGRAM_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_REASSEMBLY_BYTES,
  DEFAULT_REASSEMBLY_TIMEOUT_MS,
  DEFAULT_REPLAY_WINDOW,
  deriveWireKey,
  DROP_REASONS,
  Wire,
  type DropReason,
  type OpenResult,
  type WireOptions,
  type WireSecurity,
  type WireStats,
} from './wire.js';
export { maxFragmentCountFor, minReassemblyBytesFor } from './reassembly.js';
export { generateKey, KEY_BYTES, loadKeyFile, writeKeyFile } from './keys.js';
export { clusterIdOf, FRAGMENT_OVERHEAD_BYTES, FRAME_OVERHEAD_BYTES, HEADER_BYTES, sealFrame, TAG_BYTES } from './frame.js';
