// Trace and span ids as stored: lowercase hex, 32 and 16 characters. OTLP declares all-zero ids invalid.

export const TRACE_ID_HEX_LENGTH = 32;
export const SPAN_ID_HEX_LENGTH = 16;

const HEX = /^[0-9a-fA-F]+$/;
const ZERO = /^0+$/;

/** The normalised id, or null when `value` is not `hexLength` hex digits or is all zeros. */
export function normaliseHexId(value: string, hexLength: number): string | null {
  if (value.length !== hexLength || !HEX.test(value) || ZERO.test(value)) return null;
  return value.toLowerCase();
}

/** Same rule for the raw bytes of the protobuf encoding. */
export function bytesToHexId(value: Uint8Array, hexLength: number): string | null {
  if (value.length * 2 !== hexLength) return null;
  const hex = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
  return ZERO.test(hex) ? null : hex;
}
