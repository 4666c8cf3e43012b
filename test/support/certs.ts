/**
 * Real X.509 material for tests, made by the `openssl` command line into a
 * temporary folder: a CA, a second unrelated CA ("wrong CA" tests), a server
 * certificate for localhost/127.0.0.1, and client certificates with a URI SAN
 * (SPIFFE ID), only a DNS SAN, only a CN, or already expired. EC P-256 keys:
 * fast to make. scripts/dev-certs.sh does the same for humans.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface CertificateAuthority extends IssuedCertificate {
  readonly name: string;
}

export interface LeafOptions {
  /** File name stem, unique within the folder. */
  readonly name: string;
  /** Subject CN; omitted gives an empty subject. */
  readonly cn?: string;
  /** subjectAltName entries, as openssl writes them: `URI:spiffe://…`, `DNS:localhost`, `IP:127.0.0.1`. */
  readonly san?: readonly string[];
  /** Issuing CA; default the main one. */
  readonly ca?: CertificateAuthority;
  /** serverAuth or clientAuth. */
  readonly usage: "server" | "client";
  /** Validity in the past (2020-01-01 to 2020-01-02), made with `openssl ca -startdate/-enddate`. */
  readonly expired?: boolean;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertificateAuthority;
  /** Unrelated to `ca`: its certificates must be refused where `ca` is trusted. */
  readonly otherCa: CertificateAuthority;
  /** DNS:localhost, IP:127.0.0.1, signed by `ca`. */
  readonly server: IssuedCertificate;
  /** URI:spiffe://aevon/ns/payments/sa/payments-api (and a CN that must not win). */
  readonly paymentsClient: IssuedCertificate;
  /** The same SPIFFE ID as `paymentsClient`, issued by `otherCa`. */
  readonly otherCaClient: IssuedCertificate;
  /** Only DNS:auditor.aevon.internal (and a different CN). */
  readonly dnsClient: IssuedCertificate;
  /** No SAN; CN=legacy-batch-job. */
  readonly cnClient: IssuedCertificate;
  /** URI SAN, valid 2020-01-01 to 2020-01-02. */
  readonly expiredClient: IssuedCertificate;
  makeCa(name: string): CertificateAuthority;
  issue(options: LeafOptions): IssuedCertificate;
  /** Removes the folder. */
  cleanup(): void;
}

export const PAYMENTS_SPIFFE_ID = "spiffe://aevon/ns/payments/sa/payments-api";

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function read(certFile: string, keyFile: string): IssuedCertificate {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "ledger-pki-"));
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

  function makeCa(name: string): CertificateAuthority {
    const certFile = path.join(dir, `${name}.crt`);
    const keyFile = path.join(dir, `${name}.key`);
    openssl(
      ["req", "-x509", ...ecKey, "-keyout", keyFile, "-out", certFile, "-days", "30", "-subj", `/O=Ledger tests/CN=${name}`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      dir,
    );
    return { name, ...read(certFile, keyFile) };
  }

  function issue(options: LeafOptions): IssuedCertificate {
    const ca = options.ca ?? mainCa;
    const stem = path.join(dir, options.name);
    const ext = [
      "[v3]",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      `extendedKeyUsage=${options.usage === "server" ? "serverAuth" : "clientAuth"}`,
      ...(options.san && options.san.length > 0 ? ["subjectAltName=@alt", "[alt]", ...altNames(options.san)] : []),
      "",
    ].join("\n");
    writeFileSync(`${stem}.ext`, ext);
    const subject = options.cn === undefined ? "/" : `/CN=${options.cn}`;
    openssl(["req", "-new", "-utf8", ...ecKey, "-keyout", `${stem}.key`, "-out", `${stem}.csr`, "-subj", subject], dir);
    if (options.expired) {
      signBackdated(ca, stem);
    } else {
      openssl(
        ["x509", "-req", "-in", `${stem}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", `0x${randomSerial()}`,
          "-days", "2", "-sha256", "-extfile", `${stem}.ext`, "-extensions", "v3", "-out", `${stem}.crt`],
        dir,
      );
    }
    return read(`${stem}.crt`, `${stem}.key`);
  }

  // `openssl x509` (3.0) cannot backdate; `openssl ca` can, with a throwaway database.
  function signBackdated(ca: CertificateAuthority, stem: string): void {
    const db = `${stem}.index`;
    writeFileSync(db, "");
    writeFileSync(
      `${stem}.ca.cnf`,
      [
        "[ca]", "default_ca = backdate", "[backdate]", `database = ${db}`, `new_certs_dir = ${dir}`, "rand_serial = yes",
        "default_md = sha256", "policy = any", "unique_subject = no", "email_in_dn = no", "[any]", "commonName = optional", "",
      ].join("\n"),
    );
    openssl(
      ["ca", "-batch", "-config", `${stem}.ca.cnf`, "-cert", ca.certFile, "-keyfile", ca.keyFile, "-in", `${stem}.csr`,
        "-out", `${stem}.crt`, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", `${stem}.ext`,
        "-extensions", "v3", "-notext"],
      dir,
    );
  }

  const mainCa = makeCa("test-ca");
  const otherCa = makeCa("other-ca");
  return {
    dir,
    ca: mainCa,
    otherCa,
    server: issue({ name: "server", cn: "localhost", san: ["DNS:localhost", "IP:127.0.0.1"], usage: "server" }),
    paymentsClient: issue({ name: "payments", cn: "payments-cn-must-not-win", san: [`URI:${PAYMENTS_SPIFFE_ID}`], usage: "client" }),
    otherCaClient: issue({ name: "other-ca-payments", san: [`URI:${PAYMENTS_SPIFFE_ID}`], ca: otherCa, usage: "client" }),
    dnsClient: issue({ name: "auditor", cn: "auditor-cn-must-not-win", san: ["DNS:Auditor.Aevon.Internal"], usage: "client" }),
    cnClient: issue({ name: "legacy", cn: "legacy-batch-job", usage: "client" }),
    expiredClient: issue({ name: "expired", san: [`URI:${PAYMENTS_SPIFFE_ID}`], usage: "client", expired: true }),
    makeCa,
    issue,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// One `TYPE.n = value` line per name (a section, so values may hold commas).
function altNames(san: readonly string[]): string[] {
  const counts = new Map<string, number>();
  return san.map((entry) => {
    const colon = entry.indexOf(":");
    const type = entry.slice(0, colon);
    const n = (counts.get(type) ?? 0) + 1;
    counts.set(type, n);
    return `${type}.${n} = ${entry.slice(colon + 1)}`;
  });
}

function randomSerial(): string {
  return [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("").replace(/^0/, "1");
}
