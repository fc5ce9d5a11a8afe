import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const KEY_PREFIX = "pr_";

/** A new secret: 256 random bits, so a fast hash is enough to store it (no password-style stretching needed). */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** What listings show to tell keys apart without revealing them. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, KEY_PREFIX.length + 6);
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
