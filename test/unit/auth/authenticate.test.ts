/**
 * The combination of certificate principal and bearer token, per mode, with a
 * real certificate (openssl) and real signed tokens (jose).
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator, resolveAuthMode } from "../../../src/auth/authenticate.js";
import { principalFromCertificate } from "../../../src/auth/certificates.js";
import { AuthError } from "../../../src/auth/errors.js";
import { JwtVerifier } from "../../../src/auth/jwt.js";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type TestPki } from "../../support/certs.js";

let pki: TestPki;
let dir: string;
let verifier: JwtVerifier;
let token: (sub: string, claims?: Record<string, unknown>) => Promise<string>;
let certificatePrincipal: string;

beforeAll(async () => {
  pki = makeTestPki();
  certificatePrincipal = principalFromCertificate(new X509Certificate(pki.paymentsClient.cert).toLegacyObject())!;
  dir = mkdtempSync(path.join(tmpdir(), "ledger-authn-"));
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  writeFileSync(path.join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }));
  verifier = await JwtVerifier.create({ issuer: "iss", audience: "ledger", jwksFile: path.join(dir, "jwks.json") });
  token = async (sub, claims = {}) =>
    `Bearer ${await new SignJWT({ iss: "iss", aud: "ledger", exp: Math.floor(Date.now() / 1000) + 300, sub, ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(privateKey)}`;
});
afterAll(() => {
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return (error as AuthError).reason;
  }
  throw new Error("expected an AuthError");
}

describe("resolveAuthMode", () => {
  const base = { nodeEnv: undefined, authMode: undefined, clientCaConfigured: false, jwtConfigured: false };
  it("prefers mTLS, then JWT, then open", () => {
    expect(resolveAuthMode({ ...base, clientCaConfigured: true, jwtConfigured: true })).toBe("mtls");
    expect(resolveAuthMode({ ...base, jwtConfigured: true })).toBe("jwt");
    expect(resolveAuthMode(base)).toBe("open");
    expect(resolveAuthMode({ ...base, nodeEnv: "development" })).toBe("open");
  });

  it("refuses open mode in production unless AUTH_MODE=insecure, naming the variables", () => {
    expect(() => resolveAuthMode({ ...base, nodeEnv: "production" })).toThrow(/TLS_CLIENT_CA_FILE.*JWT_JWKS_FILE.*NODE_ENV=production.*AUTH_MODE=insecure/);
    expect(resolveAuthMode({ ...base, nodeEnv: "production", authMode: "insecure" })).toBe("open");
    expect(resolveAuthMode({ ...base, nodeEnv: "production", jwtConfigured: true })).toBe("jwt");
    // "insecure" only accepts the absence of credentials; it never turns configured ones off.
    expect(resolveAuthMode({ ...base, nodeEnv: "production", authMode: "insecure", clientCaConfigured: true })).toBe("mtls");
    expect(() => resolveAuthMode({ ...base, authMode: "off" })).toThrow(/AUTH_MODE must be unset or "insecure" \(got "off"\)/);
  });
});

describe("createAuthenticator", () => {
  it("open: everyone is anonymous, whatever they send", async () => {
    const open = createAuthenticator({ mode: "open", jwt: verifier });
    expect(await open.authenticate({})).toBe("anonymous");
    expect(await open.authenticate({ certificatePrincipal, authorization: "Bearer garbage" })).toBe("anonymous");
  });

  it("jwt: the token's sub; no token or a bad one is refused", async () => {
    const jwt = createAuthenticator({ mode: "jwt", jwt: verifier });
    expect(await jwt.authenticate({ authorization: await token("svc-a") })).toBe("svc-a");
    expect(await reason(jwt.authenticate({}))).toBe("CREDENTIALS_MISSING");
    expect(await reason(jwt.authenticate({ certificatePrincipal }))).toBe("CREDENTIALS_MISSING");
    expect(await reason(jwt.authenticate({ authorization: await token("svc-a", { aud: "other" }) }))).toBe("TOKEN_AUDIENCE");
    expect(() => createAuthenticator({ mode: "jwt" })).toThrow(/needs a token verifier/);
  });

  it("mtls: the certificate's principal is required and decides", async () => {
    const mtls = createAuthenticator({ mode: "mtls" });
    expect(certificatePrincipal).toBe(PAYMENTS_SPIFFE_ID);
    expect(await mtls.authenticate({ certificatePrincipal })).toBe(PAYMENTS_SPIFFE_ID);
    expect(await reason(mtls.authenticate({ authorization: await token(PAYMENTS_SPIFFE_ID) }))).toBe("CREDENTIALS_MISSING");
    expect(await reason(mtls.authenticate({ certificatePrincipal: "anonymous" }))).toBe("CREDENTIALS_MISSING");
    // Without JWT configured, a token has no say.
    expect(await mtls.authenticate({ certificatePrincipal, authorization: await token("someone-else") })).toBe(PAYMENTS_SPIFFE_ID);
  });

  it("mtls + jwt: a presented token must be valid and name the certificate's principal", async () => {
    const both = createAuthenticator({ mode: "mtls", jwt: verifier });
    expect(await both.authenticate({ certificatePrincipal })).toBe(PAYMENTS_SPIFFE_ID);
    expect(await both.authenticate({ certificatePrincipal, authorization: await token(PAYMENTS_SPIFFE_ID) })).toBe(PAYMENTS_SPIFFE_ID);
    expect(await reason(both.authenticate({ certificatePrincipal, authorization: await token("spiffe://aevon/ns/treasury/sa/minter") }))).toBe("PRINCIPAL_MISMATCH");
    expect(await reason(both.authenticate({ certificatePrincipal, authorization: await token(PAYMENTS_SPIFFE_ID, { exp: 1 }) }))).toBe("TOKEN_EXPIRED");
    expect(await reason(both.authenticate({ certificatePrincipal, authorization: "Bearer not-a-jwt" }))).toBe("TOKEN_INVALID");
  });
});
