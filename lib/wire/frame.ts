/**
 * The byte layout of one wire frame (version 1) and the low-level seal of a single frame.
 *
 * Layout (all integers big-endian):
 *
 *   offset size field
 *   0      2    magic 0x53 0x4E ("SN")
 *   2      1    version (1)
 *   3      1    flags: bit 0 SECURE, bit 1 FRAGMENT, bits 2..7 must be zero
 *   4      4    cluster id (first 4 bytes of BLAKE2b of the cluster name)
 *   8      4    sender node id (1..2^32-1)
 *   12     8    sender incarnation (1..2^53-1)
 *   20     8    per-(sender, incarnation) frame counter (0..2^53-1)
 *   28     n    body: ciphertext (secure) or plaintext (insecure)
 *   28+n   16   tag: Poly1305 (secure) or unkeyed BLAKE2b-128 over bytes 0..28+n (insecure)
 *
 * Body plaintext: when FRAGMENT is set, u32 fragment index, u32 fragment count, then that slice
 * of the msgpack encoding; otherwise the whole msgpack encoding.
 *
 * The 28 header bytes are the AEAD associated data, and bytes 4..28 (cluster id, node id,
 * incarnation, counter: exactly 24 bytes) are the XChaCha20 nonce, so no nonce travels on its
 * own. docs/wire.md gives the argument for why a nonce never repeats under one key.
 *
 * These values are released wire format: never renumber a flag or move a field; a change of
 * layout takes a new version number.
 */
import { sodium } from './sodium.js';

export const MAGIC_0 = 0x53;
export const MAGIC_1 = 0x4e;
export const WIRE_VERSION = 1;

export const FLAG_SECURE = 0x01;
export const FLAG_FRAGMENT = 0x02;
export const FLAGS_KNOWN = FLAG_SECURE | FLAG_FRAGMENT;

export const HEADER_BYTES = 28;
export const NONCE_OFFSET = 4;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const FRAGMENT_META_BYTES = 8;
/** Smallest frame that can be well formed: a header, a one-byte body and a tag. */
export const MIN_FRAME_BYTES = HEADER_BYTES + 1 + TAG_BYTES;
/** Bytes of every single frame that are not message. */
export const FRAME_OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES;
/** Bytes of every fragment frame that are not message. */
export const FRAGMENT_OVERHEAD_BYTES = FRAME_OVERHEAD_BYTES + FRAGMENT_META_BYTES;

const TWO_POW_32 = 0x1_0000_0000;
/** Largest value the upper half of a 64-bit field may hold for the value to stay <= 2^53-1. */
const SAFE_HIGH_MAX = 0x1f_ffff;

if (
  sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES !== NONCE_BYTES ||
  sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES !== TAG_BYTES
) {
  throw new Error('sodium-native XChaCha20-Poly1305 sizes differ from the wire layout');
}

/** The 32-bit cluster id carried in the clear header. Domain-separated from every other hash. */
export function clusterIdOf(cluster: string): number {
  const digest = Buffer.alloc(16);
  sodium.crypto_generichash(digest, Buffer.from(`sanode/cluster-id/v1\0${cluster}`, 'utf8'));
  return digest.readUInt32BE(0);
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
  );
}

export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

/** Reads a u64 that must be <= 2^53-1; returns -1 when it is larger (never a valid value). */
export function readU53(bytes: Uint8Array, offset: number): number {
  const high = readU32(bytes, offset);
  if (high > SAFE_HIGH_MAX) return -1;
  return high * TWO_POW_32 + readU32(bytes, offset + 4);
}

export function writeU53(bytes: Uint8Array, offset: number, value: number): void {
  writeU32(bytes, offset, Math.floor(value / TWO_POW_32));
  writeU32(bytes, offset + 4, value >>> 0);
}

export function writeHeader(
  out: Uint8Array,
  flags: number,
  clusterId: number,
  nodeId: number,
  incarnation: number,
  counter: number,
): void {
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = WIRE_VERSION;
  out[3] = flags;
  writeU32(out, 4, clusterId);
  writeU32(out, 8, nodeId);
  writeU53(out, 12, incarnation);
  writeU53(out, 20, counter);
}

export interface FrameFields {
  clusterId: number;
  nodeId: number;
  incarnation: number;
  counter: number;
  /** Omit for a single (unfragmented) frame. */
  fragment?: { index: number; count: number };
}

/**
 * Seals one frame whose body plaintext is `prefix` (may be empty) followed by `payload`.
 * `key` is the derived 32-byte wire key, or null for an insecure (checksummed) frame.
 *
 * Exported for Wire and for tests that need authenticated frames with arbitrary contents;
 * applications use Wire.seal(), which owns the counter.
 */
export function sealFrame(fields: FrameFields, payload: Uint8Array, key: Uint8Array | null, scratch?: Buffer): Buffer {
  const metaBytes = fields.fragment === undefined ? 0 : FRAGMENT_META_BYTES;
  const bodyBytes = metaBytes + payload.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes + TAG_BYTES);
  const flags = (key === null ? 0 : FLAG_SECURE) | (fields.fragment === undefined ? 0 : FLAG_FRAGMENT);
  writeHeader(out, flags, fields.clusterId, fields.nodeId, fields.incarnation, fields.counter);
  if (key === null) {
    if (fields.fragment !== undefined) {
      writeU32(out, HEADER_BYTES, fields.fragment.index);
      writeU32(out, HEADER_BYTES + 4, fields.fragment.count);
    }
    out.set(payload, HEADER_BYTES + metaBytes);
    const checked = HEADER_BYTES + bodyBytes;
    sodium.crypto_generichash(out.subarray(checked), out.subarray(0, checked));
    return out;
  }
  let plaintext: Uint8Array = payload;
  if (fields.fragment !== undefined) {
    // The AEAD takes one contiguous plaintext, so fragment metadata and slice are staged in a
    // scratch buffer the caller reuses across frames (encryption copies out of it).
    const stage = scratch !== undefined && scratch.length >= bodyBytes ? scratch : Buffer.allocUnsafe(bodyBytes);
    writeU32(stage, 0, fields.fragment.index);
    writeU32(stage, 4, fields.fragment.count);
    stage.set(payload, FRAGMENT_META_BYTES);
    plaintext = stage.subarray(0, bodyBytes);
  }
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(HEADER_BYTES),
    plaintext,
    out.subarray(0, HEADER_BYTES),
    null,
    out.subarray(NONCE_OFFSET, HEADER_BYTES),
    key,
  );
  return out;
}
