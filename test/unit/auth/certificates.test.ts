/**
 * Principal extraction from real certificates made by openssl. Node's
 * X509Certificate.toLegacyObject() is the very object tlsSocket.getPeerCertificate()
 * and grpc-js's getAuthContext().sslPeerCertificate give (tls-grpc.test.ts
 * covers those end to end).
 */
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCertificatePrincipal, parseSubjectAltName, principalFromCertificate } from "../../../src/auth/certificates.js";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type LeafOptions, type TestPki } from "../../support/certs.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.cleanup());

let serial = 0;
function peer(options: Omit<LeafOptions, "name" | "usage">) {
  const issued = pki.issue({ name: `leaf-${++serial}`, usage: "client", ...options });
  return new X509Certificate(issued.cert).toLegacyObject();
}

describe("principalFromCertificate", () => {
  it("takes the URI SAN (a SPIFFE ID) over the DNS SAN and the CN", () => {
    expect(principalFromCertificate(new X509Certificate(pki.paymentsClient.cert).toLegacyObject())).toBe(PAYMENTS_SPIFFE_ID);
    expect(principalFromCertificate(peer({ cn: "cn", san: ["DNS:dns.example", `URI:${PAYMENTS_SPIFFE_ID}`] }))).toBe(PAYMENTS_SPIFFE_ID);
    expect(inspectCertificatePrincipal(peer({ san: ["URI:https://svc.example/x"] }))).toEqual({ principal: "https://svc.example/x", source: "uri" });
  });

  it("falls back to the first DNS SAN (lower-cased), then to the subject CN", () => {
    expect(inspectCertificatePrincipal(new X509Certificate(pki.dnsClient.cert).toLegacyObject())).toEqual({ principal: "auditor.aevon.internal", source: "dns" });
    expect(principalFromCertificate(peer({ cn: "cn", san: ["IP:10.0.0.1", "DNS:first.example", "DNS:second.example"] }))).toBe("first.example");
    expect(inspectCertificatePrincipal(new X509Certificate(pki.cnClient.cert).toLegacyObject())).toEqual({ principal: "legacy-batch-job", source: "cn" });
    expect(principalFromCertificate(peer({ cn: "batch job 7", san: ["IP:10.0.0.1", "email:ops@example.com"] }))).toBe("batch job 7");
  });

  it("gives no principal for no identity, several URI SANs, or a malformed URI", () => {
    expect(inspectCertificatePrincipal(peer({ san: ["IP:10.0.0.1"] }))).toEqual({ principal: undefined, problem: "no URI SAN, DNS SAN or subject CN" });
    expect(principalFromCertificate(peer({ san: ["URI:spiffe://aevon/a", "URI:spiffe://aevon/b"] }))).toBeUndefined();
    // Node prints a comma as "URI:\"spiffe://aevon/a\\u002cb\"": parsed, then refused (SPIFFE IDs have no commas).
    const comma = peer({ san: ["URI:spiffe://aevon/a,b"] });
    expect(comma.subjectaltname).toContain('"');
    expect(inspectCertificatePrincipal(comma)).toEqual({ principal: undefined, problem: "URI SAN is not a well-formed URI" });
    for (const bad of ["spiffe://Aevon/x", "spiffe://aevon/../x", "spiffe://aevon/x?y=1", "spiffe://aevon//x", "spiffe://aevon/x%20y"]) {
      expect(principalFromCertificate(peer({ cn: "fallback-must-not-win", san: [`URI:${bad}`] })), bad).toBeUndefined();
    }
  });

  it("refuses identities over 512 characters, non-ASCII ones, and the reserved `anonymous`", () => {
    const long = `spiffe://aevon/${"a".repeat(512 - "spiffe://aevon/".length)}`;
    expect(principalFromCertificate(peer({ san: [`URI:${long}`] }))).toBe(long);
    expect(principalFromCertificate(peer({ san: [`URI:${long}b`] }))).toBeUndefined();
    expect(principalFromCertificate(peer({ cn: "Zoë" }))).toBeUndefined();
    expect(principalFromCertificate(peer({ cn: "anonymous" }))).toBeUndefined();
    expect(principalFromCertificate(peer({ san: ["DNS:a;b.example"] }))).toBeUndefined();
  });

  it("gives no principal without a certificate (getPeerCertificate() returns {} then)", () => {
    expect(principalFromCertificate(undefined)).toBeUndefined();
    expect(principalFromCertificate({})).toBeUndefined();
  });
});

describe("parseSubjectAltName", () => {
  it("splits Node's format and decodes quoted values", () => {
    expect(parseSubjectAltName('DNS:a.example, IP Address:127.0.0.1, URI:"spiffe://x/a\\u002cb", DNS:"quote\\"d"')).toEqual([
      { type: "DNS", value: "a.example" },
      { type: "IP Address", value: "127.0.0.1" },
      { type: "URI", value: "spiffe://x/a,b" },
      { type: "DNS", value: 'quote"d' },
    ]);
  });

  it("refuses anything malformed", () => {
    for (const bad of ["DNS", 'DNS:"unterminated', "DNS:a,  URI:b", "DNS:a, ", ":x", 'DNS:a"b', 'URI:"x"y', "DNS:a,URI:b, 1:c"]) {
      expect(parseSubjectAltName(bad), bad).toBeUndefined();
    }
  });
});
