/**
 * The principal of a verified client certificate: its URI SAN (a SPIFFE ID
 * such as `spiffe://aevon/ns/payments/sa/payments-api`), else its first DNS
 * SAN (lower-cased), else its subject CN. Anything ambiguous or malformed
 * gives no principal rather than a guess: the call is then refused.
 *
 * Input is Node's `tls.PeerCertificate`, as given by grpc-js
 * (`call.getAuthContext().sslPeerCertificate`) and by
 * `tlsSocket.getPeerCertificate()` (an empty object when there is none).
 * Only call this for a certificate the TLS layer has verified.
 */
import type { PeerCertificate } from "node:tls";
import { isAcceptablePrincipal } from "./principal.js";

/** The parts of a peer certificate this module reads. */
export type CertificateLike = Partial<Pick<PeerCertificate, "subject" | "subjectaltname">>;

/** One `TYPE:value` entry of Node's `subjectaltname` string. */
export interface SubjectAltName {
  /** `DNS`, `URI`, `IP Address`, `email`, `DirName`, `othername`, `Registered ID`, … */
  readonly type: string;
  readonly value: string;
}

/** Where a certificate's principal came from, or why there is none (for logs, not for clients). */
export type CertificatePrincipal =
  | { readonly principal: string; readonly source: "uri" | "dns" | "cn" }
  | { readonly principal: undefined; readonly problem: string };

/** Longest `subjectaltname` string parsed; longer ones are refused (a certificate is a few KiB at most). */
const MAX_SAN_LENGTH = 16_384;
const SAN_TYPE = /^[A-Za-z][A-Za-z0-9 ]*$/;

/**
 * Parses Node's `subjectaltname` (`DNS:localhost, IP Address:127.0.0.1, URI:spiffe://…`).
 * Node quotes a value holding a comma, quote, backslash or control character as a
 * JSON string (`DNS:"a,b"`); those are decoded. Returns undefined if the text is
 * malformed in any way.
 */
export function parseSubjectAltName(text: string): SubjectAltName[] | undefined {
  if (text.length > MAX_SAN_LENGTH) return undefined;
  const names: SubjectAltName[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) return undefined;
    const type = text.slice(i, colon);
    if (!SAN_TYPE.test(type)) return undefined;
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      const end = closingQuote(text, j);
      if (end < 0) return undefined;
      try {
        value = JSON.parse(text.slice(j, end + 1)) as string;
      } catch {
        return undefined;
      }
      j = end + 1;
    } else {
      const next = text.indexOf(", ", j);
      const end = next < 0 ? text.length : next;
      value = text.slice(j, end);
      if (value.includes('"')) return undefined;
      j = end;
    }
    names.push({ type, value });
    if (j === text.length) break;
    if (!text.startsWith(", ", j)) return undefined;
    i = j + 2;
    if (i === text.length) return undefined;
  }
  return names;
}

function closingQuote(text: string, open: number): number {
  for (let k = open + 1; k < text.length; k++) {
    const c = text[k];
    if (c === "\\") k++;
    else if (c === '"') return k;
  }
  return -1;
}

// RFC 3986 scheme, then no whitespace, quotes, commas or control characters.
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;
// SPIFFE ID (SPIFFE-ID spec §2): lower-case trust domain, path segments of [A-Za-z0-9._-], no query or fragment.
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const DNS_NAME = /^[A-Za-z0-9_*](?:[A-Za-z0-9_.*-]*[A-Za-z0-9_])?$/;

function uriProblem(uri: string): string | undefined {
  if (uri.includes(",") || !URI.test(uri)) return "URI SAN is not a well-formed URI";
  if (/^spiffe:/i.test(uri)) {
    if (!SPIFFE_ID.test(uri)) return "URI SAN is not a valid SPIFFE ID";
    if (uri.split("/").slice(3).some((s) => s === "." || s === "..")) return "URI SAN is not a valid SPIFFE ID";
  }
  return undefined;
}

function accept(principal: string, source: "uri" | "dns" | "cn"): CertificatePrincipal {
  if (!isAcceptablePrincipal(principal)) {
    return { principal: undefined, problem: `${source.toUpperCase()} identity is not 1-512 printable ASCII characters, or is reserved` };
  }
  return { principal, source };
}

/** The principal with its source, or the reason there is none. */
export function inspectCertificatePrincipal(cert: CertificateLike | null | undefined): CertificatePrincipal {
  if (!cert) return { principal: undefined, problem: "no client certificate" };
  const san = cert.subjectaltname;
  if (typeof san === "string" && san.length > 0) {
    const names = parseSubjectAltName(san);
    if (!names) return { principal: undefined, problem: "subjectAltName is malformed" };
    const uris = names.filter((n) => n.type === "URI");
    if (uris.length > 1) return { principal: undefined, problem: "more than one URI SAN" };
    if (uris.length === 1) {
      const uri = uris[0]!.value;
      const problem = uriProblem(uri);
      return problem ? { principal: undefined, problem } : accept(uri, "uri");
    }
    const dns = names.find((n) => n.type === "DNS");
    if (dns) {
      if (!DNS_NAME.test(dns.value)) return { principal: undefined, problem: "DNS SAN is not a host name" };
      return accept(dns.value.toLowerCase(), "dns");
    }
  } else if (san !== undefined && typeof san !== "string") {
    return { principal: undefined, problem: "subjectAltName is malformed" };
  }
  const cn = commonName(cert.subject);
  if (cn === null) return { principal: undefined, problem: "more than one subject CN" };
  if (cn === undefined) return { principal: undefined, problem: "no URI SAN, DNS SAN or subject CN" };
  return accept(cn, "cn");
}

/** The certificate's principal, or undefined when it has none that can be trusted as one. */
export function principalFromCertificate(cert: CertificateLike | null | undefined): string | undefined {
  return inspectCertificatePrincipal(cert).principal;
}

/** The subject CN; null when it is multi-valued (ambiguous). */
function commonName(subject: unknown): string | undefined | null {
  if (!subject || typeof subject !== "object") return undefined;
  const cn = (subject as Record<string, unknown>).CN;
  if (typeof cn === "string") return cn.length > 0 ? cn : undefined;
  if (Array.isArray(cn)) return cn.length === 1 && typeof cn[0] === "string" ? cn[0] : null;
  return undefined;
}
