/**
 * A typed view of the few sodium-native functions the wire layer uses.
 *
 * sodium-native ships no type declarations. An ambient `declare module 'sodium-native'` would
 * clash with any other folder that declares it too, so the module is loaded through
 * createRequire and given a narrow interface here instead. Every function throws on misuse
 * (wrong buffer sizes) and the AEAD decrypt throws when authentication fails.
 */
import { createRequire } from 'node:module';

export interface SodiumApi {
  readonly crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number;
  readonly crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number;
  readonly crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    ciphertext: Uint8Array,
    message: Uint8Array,
    additionalData: Uint8Array | null,
    nsec: null,
    nonce: Uint8Array,
    key: Uint8Array,
  ): number;
  /** Throws when the tag does not verify. */
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    message: Uint8Array,
    nsec: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    nonce: Uint8Array,
    key: Uint8Array,
  ): number;
  /** BLAKE2b; output 16..64 bytes, optional key 16..64 bytes. */
  crypto_generichash(output: Uint8Array, input: Uint8Array, key?: Uint8Array): void;
  randombytes_buf(buffer: Uint8Array): void;
  /** Constant-time equality of two equal-length buffers. */
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
  sodium_memzero(buffer: Uint8Array): void;
}

const require = createRequire(import.meta.url);

export const sodium = require('sodium-native') as SodiumApi;
