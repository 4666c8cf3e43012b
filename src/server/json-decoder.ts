/**
 * The text decoder the Connect port reads JSON bodies with (connect-es
 * `jsonOptions.textDecoder`). It refuses two things the default one lets
 * through in silence:
 * - invalid UTF-8, which a non-fatal TextDecoder replaces with U+FFFD, so a
 *   value would be stored other than as sent (the gRPC port refuses it too);
 * - an integer written as a JSON number beyond ±(2^53 − 1): JSON.parse reads
 *   it as a double, so 9007199254740993 arrives as 9007199254740992 and an
 *   int64 amount would move another sum. ProtoJSON's form for int64 is a
 *   decimal string ("9007199254740993"), which stays exact.
 * Either is INVALID_ARGUMENT (connect-es' answer to a body it cannot read),
 * the message naming the key of the number.
 */
import { clipUtf8, DETAIL_BYTES_MAX } from "../rpc/clip.js";

/** 2^53 has 16 digits: a body without a run of 16 digits holds no unsafe integer, and is not scanned. */
const LONG_DIGIT_RUN = /\d{16}/;

export interface TextDecoderLike {
  decode(input?: Uint8Array): string;
}

export function createStrictJsonDecoder(): TextDecoderLike {
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  return {
    decode(input?: Uint8Array): string {
      let text: string;
      try {
        text = utf8.decode(input);
      } catch {
        throw new Error("the request body is not valid UTF-8");
      }
      if (LONG_DIGIT_RUN.test(text)) refuseInexactIntegers(text);
      return text;
    },
  };
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Throws on the first integer number token (outside strings) that a double cannot hold exactly. */
function refuseInexactIntegers(text: string): void {
  let key = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip it; it is a key when ':' follows.
      const start = i + 1;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      let j = i + 1;
      while (j < text.length && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === 0x3a) key = text.slice(start, i);
      continue;
    }
    if (c !== 0x2d && !isDigit(c)) continue;
    let j = c === 0x2d ? i + 1 : i;
    const digits = j;
    while (j < text.length && isDigit(text.charCodeAt(j))) j++;
    const next = text[j];
    const integer = next !== "." && next !== "e" && next !== "E";
    const token = text.slice(i, j);
    if (integer && j - digits >= 16 && !Number.isSafeInteger(Number(token))) {
      const name = clipUtf8(key || "a value", DETAIL_BYTES_MAX);
      throw new Error(`${name}: ${clipUtf8(token, 64)} is an integer beyond ±(2^53 - 1) written as a JSON number, which cannot be read exactly; send int64 values as decimal strings ("${clipUtf8(token, 64)}")`);
    }
    while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
    i = j - 1;
  }
}
