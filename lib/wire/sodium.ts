/**
 * A typed view of the few sodium-native functions the wire layer uses.
 *
 * sodium-native ships no type declarations. An ambient `declare module 'sodium-native'` would
 * clash with any other folder that declares it too, so the module is loaded through
 * createRequire and given a narrow interface here instead. Every function throws on misuse
 * (wrong buffer sizes) and the AEAD decrypt throws when authentication fails (aeadDecrypt, below,
 * answers false instead).
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

type RawDecrypt = (message: Uint8Array, ciphertext: Uint8Array, additionalData: Uint8Array, nonce: Uint8Array, key: Uint8Array) => number;

/**
 * sodium-native's own decrypt turns a failed tag into a thrown Error, whose stack capture costs
 * several times a whole successful decrypt: a flood of forged frames would cost more than the
 * same flood of real ones. Its native binding returns -1 instead. The binding is not public
 * API, so it is used only if it is there and passes a known-answer check below; otherwise the
 * throwing path is kept.
 */
function loadRawDecrypt(): RawDecrypt | undefined {
  try {
    const binding = require('sodium-native/binding') as { crypto_aead_xchacha20poly1305_ietf_decrypt?: unknown };
    const raw = binding.crypto_aead_xchacha20poly1305_ietf_decrypt;
    if (typeof raw !== 'function') return undefined;
    const decrypt = raw as RawDecrypt;
    const key = new Uint8Array(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES).fill(7);
    const nonce = new Uint8Array(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES).fill(9);
    const ad = new Uint8Array([1, 2, 3]);
    const plain = new Uint8Array([4, 5, 6, 7]);
    const sealed = new Uint8Array(plain.length + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES);
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, plain, ad, null, nonce, key);
    const out = new Uint8Array(plain.length);
    if (decrypt(out, sealed, ad, nonce, key) < 0 || out.some((byte, i) => byte !== plain[i])) return undefined;
    sealed[0]! ^= 1;
    if (decrypt(out, sealed, ad, nonce, key) >= 0) return undefined;
    return decrypt;
  } catch {
    return undefined;
  }
}

const rawDecrypt = loadRawDecrypt();

/**
 * XChaCha20-Poly1305 decrypt that answers false, without throwing, when the tag does not
 * verify. Sizes are checked here because the native binding checks none.
 */
export function aeadDecrypt(message: Uint8Array, ciphertext: Uint8Array, additionalData: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean {
  if (
    message.byteLength !== ciphertext.byteLength - sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES ||
    nonce.byteLength !== sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
    key.byteLength !== sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
  ) {
    throw new RangeError('aeadDecrypt: buffer sizes do not match the AEAD');
  }
  if (rawDecrypt !== undefined) return rawDecrypt(message, ciphertext, additionalData, nonce, key) >= 0;
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(message, null, ciphertext, additionalData, nonce, key);
    return true;
  } catch {
    return false;
  }
}

/** Whether aeadDecrypt avoids the thrown Error on a failed tag (for the benchmark's report). */
export const aeadDecryptThrowFree = rawDecrypt !== undefined;
