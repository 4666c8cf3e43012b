/**
 * JWT bearer verification with real keys (RSA, EC P-256, Ed25519) and real
 * signatures, keys from a JWKS file and from a JWKS URL served by a local
 * node:http server.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../../src/auth/errors.js";
import { JwtVerifier, type JwtVerifierOptions } from "../../../src/auth/jwt.js";

const ISSUER = "https://issuer.aevon.test";
const AUDIENCE = "ledger-of-record";
type Key = Awaited<ReturnType<typeof generateKeyPair>> & { kid: string; alg: string; jwk: JWK };

let dir: string;
let rsa: Key, ec: Key, ed: Key, rogue: Key, rotated: Key;

async function key(alg: string, kid: string): Promise<Key> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { ...pair, kid, alg, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } };
}

function jwksFile(name: string, keys: readonly JWK[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify({ keys }));
  return file;
}

async function sign(k: Key, claims: JWTPayload = {}, header: { kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "spiffe://aevon/ns/payments/sa/payments-api", iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: k.alg, kid: header.kid ?? k.kid })
    .sign(k.privateKey);
}

async function failure(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error("expected an AuthError, the token was accepted");
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ledger-jwt-"));
  [rsa, ec, ed, rogue, rotated] = await Promise.all([key("RS256", "rsa-1"), key("ES256", "ec-1"), key("EdDSA", "ed-1"), key("ES256", "ec-1"), key("ES256", "ec-2")]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileVerifier(extra: Partial<JwtVerifierOptions> = {}) {
  return JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwksFile(`jwks-${Math.random()}.json`, [rsa.jwk, ec.jwk, ed.jwk]), ...extra });
}

describe("JwtVerifier with a JWKS file", () => {
  it("accepts RS256, ES256 and EdDSA tokens from known keys and returns their sub", async () => {
    const verifier = await fileVerifier();
    for (const k of [rsa, ec, ed]) {
      expect(await verifier.verify(`Bearer ${await sign(k, { sub: `svc-${k.alg}` })}`)).toEqual({ subject: `svc-${k.alg}` });
    }
    expect((await verifier.verify(`bearer  ${await sign(ec)}`)).subject).toBe("spiffe://aevon/ns/payments/sa/payments-api");
  });

  it("refuses expired, not-yet-valid, wrong-audience and wrong-issuer tokens with their own reasons", async () => {
    const verifier = await fileVerifier();
    const now = Math.floor(Date.now() / 1000);
    const cases: [JWTPayload, string][] = [
      [{ exp: now - 300 }, "TOKEN_EXPIRED"],
      [{ nbf: now + 300 }, "TOKEN_NOT_YET_VALID"],
      [{ aud: "another-service" }, "TOKEN_AUDIENCE"],
      [{ iss: "https://evil.example" }, "TOKEN_ISSUER"],
    ];
    for (const [claims, reason] of cases) {
      const token = await sign(ec, claims);
      const error = await failure(verifier.verify(`Bearer ${token}`));
      expect(error.reason, reason).toBe(reason);
      expect(error.status).toBe("UNAUTHENTICATED");
      expect(error.message).not.toContain(token.split(".")[1]!.slice(0, 20));
    }
  });

  it("allows the configured clock skew on exp and nbf (default 30 s)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const lenient = await fileVerifier();
    const strict = await fileVerifier({ clockToleranceSec: 0 });
    const justExpired = `Bearer ${await sign(ec, { exp: now - 10 })}`;
    const almostValid = `Bearer ${await sign(ec, { nbf: now + 10 })}`;
    expect((await lenient.verify(justExpired)).subject).toBeTruthy();
    expect((await lenient.verify(almostValid)).subject).toBeTruthy();
    expect((await failure(strict.verify(justExpired))).reason).toBe("TOKEN_EXPIRED");
    expect((await failure(strict.verify(almostValid))).reason).toBe("TOKEN_NOT_YET_VALID");
  });

  it("refuses a token signed by another key (same kid), by an unknown kid, or with alg none / HS256", async () => {
    const verifier = await fileVerifier();
    expect(await failure(verifier.verify(`Bearer ${await sign(rogue)}`))).toMatchObject({ reason: "TOKEN_INVALID", message: "token signature does not verify" });
    expect(await failure(verifier.verify(`Bearer ${await sign(rotated)}`))).toMatchObject({ reason: "TOKEN_INVALID", message: "no trusted key matches the token" });
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const claims = b64({ iss: ISSUER, aud: AUDIENCE, sub: "x", exp: Math.floor(Date.now() / 1000) + 300 });
    for (const unsecured of [`${b64({ alg: "none" })}.${claims}.`, `${b64({ alg: "none" })}.${claims}.AAAA`, `${b64({ alg: "none", kid: "ec-1" })}.${claims}.AAAA`]) {
      expect((await failure(verifier.verify(`Bearer ${unsecured}`))).reason).toBe("TOKEN_INVALID");
    }
    const secret = new TextEncoder().encode("a shared secret of at least thirty-two bytes");
    const hs = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "x" }).setProtectedHeader({ alg: "HS256", kid: "ec-1" }).setExpirationTime("5m").sign(secret);
    expect(await failure(verifier.verify(`Bearer ${hs}`))).toMatchObject({ reason: "TOKEN_INVALID", message: "token algorithm is not accepted" });
  });

  it("accepts HS256 only when configured explicitly, with the secret in the JWKS file", async () => {
    const secret = new TextEncoder().encode("a shared secret of at least thirty-two bytes");
    const oct: JWK = { kty: "oct", k: Buffer.from(secret).toString("base64url"), kid: "hs-1", alg: "HS256" };
    await expect(JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwksFile("oct.json", [oct]) })).rejects.toThrow(/symmetric \(oct\) key but no HS\* algorithm/);
    const verifier = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwksFile("oct.json", [oct]), algorithms: ["HS256"] });
    const hs = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "batch" }).setProtectedHeader({ alg: "HS256", kid: "hs-1" }).setExpirationTime("5m").sign(secret);
    expect(await verifier.verify(`Bearer ${hs}`)).toEqual({ subject: "batch" });
  });

  it("requires sub (a usable principal) and exp", async () => {
    const verifier = await fileVerifier();
    expect(await failure(verifier.verify(`Bearer ${await sign(ec, { sub: undefined })}`))).toMatchObject({ reason: "TOKEN_INVALID", message: "token has no sub claim" });
    expect(await failure(verifier.verify(`Bearer ${await sign(ec, { exp: undefined })}`))).toMatchObject({ reason: "TOKEN_INVALID", message: "token has no exp claim" });
    for (const sub of ["anonymous", "x".repeat(513), "caf\u00e9", " padded"]) {
      expect((await failure(verifier.verify(`Bearer ${await sign(ec, { sub })}`))).reason, sub).toBe("TOKEN_INVALID");
    }
    expect((await verifier.verify(`Bearer ${await sign(ec, { sub: "x".repeat(512) })}`)).subject).toHaveLength(512);
  });

  it("tells a missing header from a malformed one, without echoing it", async () => {
    const verifier = await fileVerifier();
    expect((await failure(verifier.verify(undefined))).reason).toBe("CREDENTIALS_MISSING");
    expect((await failure(verifier.verify([]))).reason).toBe("CREDENTIALS_MISSING");
    const token = await sign(ec);
    for (const header of [`Basic ${token}`, token, `Bearer ${token}x y`, `Bearer ${"a".repeat(9000)}.b.c`]) {
      const error = await failure(verifier.verify(header));
      expect(error.reason).toBe("TOKEN_INVALID");
      expect(error.message).not.toContain(token.slice(0, 16));
    }
    expect((await failure(verifier.verify([`Bearer ${token}`, `Bearer ${token}`]))).message).toBe("authorization: only one value is allowed");
  });

  it("re-reads the JWKS file on reload(), keeping the old keys if the new file is bad", async () => {
    const file = jwksFile("rotating.json", [ec.jwk]);
    const verifier = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksFile: file });
    const oldToken = `Bearer ${await sign(ec)}`;
    const newToken = `Bearer ${await sign(rotated)}`;
    expect((await failure(verifier.verify(newToken))).reason).toBe("TOKEN_INVALID");
    expect(await verifier.reload()).toEqual({ type: "unchanged" });

    writeFileSync(file, "{ not json");
    expect(await verifier.reload()).toMatchObject({ type: "rejected", error: expect.stringContaining("not JSON") });
    const privateJwk = { ...(await exportJWK(rotated.privateKey)), kid: "ec-2", alg: "ES256" };
    writeFileSync(file, JSON.stringify({ keys: [privateJwk] }));
    expect(await verifier.reload()).toMatchObject({ type: "rejected", error: expect.stringContaining("keys[0] holds private key material") });
    expect((await verifier.verify(oldToken)).subject).toBeTruthy();

    writeFileSync(file, JSON.stringify({ keys: [rotated.jwk] }));
    expect(await verifier.reload()).toEqual({ type: "reloaded", keyCount: 1 });
    expect((await verifier.verify(newToken)).subject).toBeTruthy();
    expect((await failure(verifier.verify(oldToken))).reason).toBe("TOKEN_INVALID");
  });

  it("refuses unsafe configurations", async () => {
    const base = { issuer: ISSUER, audience: AUDIENCE, jwksFile: jwksFile("cfg.json", [ec.jwk]) };
    await expect(JwtVerifier.create({ ...base, algorithms: ["none"] })).rejects.toThrow(/"none" is never accepted/);
    await expect(JwtVerifier.create({ ...base, algorithms: ["HS256"], jwksFile: undefined, jwksUrl: "https://idp.example/jwks" })).rejects.toThrow(/HS\* algorithms are only accepted with a JWKS file/);
    await expect(JwtVerifier.create({ ...base, jwksFile: undefined, jwksUrl: "http://idp.example/jwks" })).rejects.toThrow(/must be https/);
    await expect(JwtVerifier.create({ ...base, audience: "" })).rejects.toThrow(/audience must be set/);
    await expect(JwtVerifier.create({ ...base, jwksFile: path.join(dir, "missing.json") })).rejects.toThrow(/JWKS file .*missing\.json: ENOENT/);
  });
});

describe("JwtVerifier with a JWKS URL", () => {
  let server: http.Server;
  let url: string;
  let served: JWK[] = [];
  let mode: "ok" | "error" | "hang" = "ok";
  let fetches = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      fetches++;
      if (mode === "hang") return; // never answers
      if (mode === "error") {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("fetches the keys once, caches them, and refetches for an unknown kid after the cooldown", async () => {
    served = [ec.jwk];
    mode = "ok";
    fetches = 0;
    const verifier = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, jwksCooldownMs: 0 });
    for (let i = 0; i < 3; i++) expect((await verifier.verify(`Bearer ${await sign(ec)}`)).subject).toBeTruthy();
    expect(fetches).toBe(1);
    served = [ec.jwk, rotated.jwk];
    expect((await verifier.verify(`Bearer ${await sign(rotated)}`)).subject).toBeTruthy();
    expect(fetches).toBe(2);
  });

  it("does not refetch for unknown kids within the cooldown", async () => {
    served = [ec.jwk];
    mode = "ok";
    fetches = 0;
    const verifier = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, jwksCooldownMs: 3_600_000 });
    expect((await verifier.verify(`Bearer ${await sign(ec)}`)).subject).toBeTruthy();
    for (let i = 0; i < 5; i++) expect((await failure(verifier.verify(`Bearer ${await sign(rotated)}`))).reason).toBe("TOKEN_INVALID");
    expect(fetches).toBe(1);
  });

  it("tries the file's keys first and the URL only for keys the file lacks", async () => {
    served = [rotated.jwk];
    mode = "ok";
    fetches = 0;
    const verifier = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwksFile("both.json", [ec.jwk]), jwksUrl: url });
    expect((await verifier.verify(`Bearer ${await sign(ec)}`)).subject).toBeTruthy();
    expect(fetches).toBe(0);
    expect((await verifier.verify(`Bearer ${await sign(rotated)}`)).subject).toBeTruthy();
    expect(fetches).toBe(1);
  });

  it("answers KEYS_UNAVAILABLE (status UNAVAILABLE) when the URL fails or times out", async () => {
    const token = `Bearer ${await sign(ec)}`;
    mode = "error";
    const failing = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url });
    expect(await failure(failing.verify(token))).toMatchObject({ reason: "KEYS_UNAVAILABLE", status: "UNAVAILABLE" });
    mode = "hang";
    const slow = await JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, jwksTimeoutMs: 200 });
    expect(await failure(slow.verify(token))).toMatchObject({ reason: "KEYS_UNAVAILABLE", status: "UNAVAILABLE" });
  });
});
