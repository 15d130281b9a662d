// Names built from API names (a 253-character object name, a 253-character
// type, a 63-character namespace, a selector) for places with a tighter
// limit: a path component (255 bytes on ext4, xfs, btrfs, APFS) or an object
// name (253 characters). Short enough text passes through unchanged, so
// existing directories and files keep their names; longer text keeps a
// readable start and gets a hash of the whole, so distinct texts stay
// distinct.

import { createHash } from "node:crypto";

/** Bytes one path component may take on the common file systems. */
export const MAX_PATH_COMPONENT_BYTES = 255;

/** Hex digits of SHA-256 kept when a name is shortened (64 bits). */
const HASH_DIGITS = 16;

/**
 * `text` when its UTF-8 form takes at most `maxBytes` bytes; otherwise a
 * prefix of it (without trailing "-" or "."), "-", and 16 hex digits of the
 * SHA-256 of all of `text`, in at most `maxBytes` bytes. A DNS-1123 `text`
 * gives a DNS-1123 result.
 *
 * @example
 * boundedName("a".repeat(300), 255).length // 255: 238 × "a", "-", 16 hex digits
 */
export function boundedName(text: string, maxBytes: number): string {
  if (!(maxBytes >= HASH_DIGITS + 2)) throw new RangeError(`boundedName: maxBytes must be at least ${HASH_DIGITS + 2}, got ${maxBytes}`);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const hash = createHash("sha256").update(text).digest("hex").slice(0, HASH_DIGITS);
  let prefix = text.slice(0, maxBytes - HASH_DIGITS - 1);
  while (Buffer.byteLength(prefix) > maxBytes - HASH_DIGITS - 1) prefix = prefix.slice(0, -1);
  prefix = prefix.replace(/[-.]+$/, "");
  return prefix === "" ? hash : `${prefix}-${hash}`;
}
