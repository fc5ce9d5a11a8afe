// The sticky split of a guarded rollout: which arm an assignment key is in. The client and the server both call
// this one function (the server imports it from the client package), so a key gets the same arm from the client's
// local choice, from resolve and from render.
//
// The key and the rollout's id are hashed together into [0, 1): a key falls in the candidate arm while that point is
// below the step's share. Hashing with the rollout id means a user who was early in one rollout is not early in every
// rollout; comparing a fixed point with a growing share means a higher step only adds keys to the candidate, never
// moves one back. The hash is MurmurHash3 (x86, 32 bits) of the UTF-8 bytes of `<rollout id>\0<key>`: fast, spreads
// similar keys (user-1, user-2) evenly, and is written in a few lines any other client can reproduce.
import type { RolloutArm } from "./contract.js";

const encoder = new TextEncoder();

/** MurmurHash3_x86_32 of `bytes` with seed 0, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const blocks = bytes.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const j = i << 2;
    let k = bytes[j]! | (bytes[j + 1]! << 8) | (bytes[j + 2]! << 16) | (bytes[j + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks << 2;
  // The 1 to 3 bytes after the last whole block, mixed as one little-endian word.
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = 0;
    for (let i = rest - 1; i >= 0; i--) k = (k << 8) | bytes[tail + i]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Where `key` falls in rollout `rolloutId`: a number in [0, 1), the same for the same two strings everywhere. */
export function rolloutPoint(key: string, rolloutId: string): number {
  return murmur3(encoder.encode(`${rolloutId}\u0000${key}`)) / 2 ** 32;
}

/** The arm of `key` in a rollout at `share`: `candidate` when its point is below the share. */
export function rolloutArm(key: string, rollout: { id: string; share: number }): RolloutArm {
  return rolloutPoint(key, rollout.id) < rollout.share ? "candidate" : "baseline";
}
