/**
 * Size limits on what an error carries back. A refusal travels in trailers
 * (`grpc-message`, percent-encoded, and `grpc-status-details-bin`, base64),
 * and grpcio clients refuse a trailer block over 8 KiB by default, answering
 * RESOURCE_EXHAUSTED instead of our error. Field paths hold the caller's own
 * map and Struct keys, which may be long, so every text an error carries is
 * cut to a number of UTF-8 bytes, at a character boundary, ending in "…".
 */

/** Most bytes of an error's message (about 1.5 KiB once percent-encoded, at worst). */
export const MESSAGE_BYTES_MAX = 512;

/** Most bytes of one field path, description or ErrorInfo metadata value. */
export const DETAIL_BYTES_MAX = 256;

const ELLIPSIS = "…";
const ELLIPSIS_BYTES = 3;

/** `text` if it fits in `maxBytes` of UTF-8, else its longest prefix of whole characters that fits with "…" after it. */
export function clipUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > maxBytes - ELLIPSIS_BYTES) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end) + ELLIPSIS;
}
