/**
 * The one codec for what a node broadcasts in agreed order: `[channel, body]` in msgpack.
 *
 * sanode's own messages (leader releases, quorum notes, CIB changes, resource actions) share the
 * agreed order with the application's messages but never reach its 'message' listeners. The
 * runtime and the simulator both go through this file, so the simulator checks the bytes the
 * product sends. Channel numbers are append-only: a released number never changes meaning.
 */
import { Packr } from 'msgpackr';

export const CHANNEL = {
  /** lib/controller/node-controller.ts ControlMessage */
  control: 0,
  /** the application's broadcast() */
  app: 1,
  /** lib/cib/replica.ts CibMessage */
  cib: 2,
  /** lib/controller/local-resources.ts ResourceMessage */
  resources: 3,
} as const;

export type Channel = (typeof CHANNEL)[keyof typeof CHANNEL];

// Plain maps and arrays only (no record extension): every member, whatever its version, reads it.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeChannel(channel: Channel, body: unknown): Uint8Array {
  return packr.pack([channel, body]);
}

/** The channel and body of a delivered payload, or undefined for bytes no version of sanode sent. */
export function decodeChannel(payload: Uint8Array): { channel: number; body: unknown } | undefined {
  let decoded: unknown;
  try {
    decoded = packr.unpack(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || typeof decoded[0] !== 'number') return undefined;
  return { channel: decoded[0], body: decoded[1] };
}
