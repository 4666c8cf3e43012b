/**
 * Reloadable TLS for both ports, from TLS_CERT_FILE / TLS_KEY_FILE /
 * TLS_CLIENT_CA_FILE (paths passed in; this module reads no environment).
 *
 * - gRPC (grpc-js): `ReloadableTls` is a `grpc.experimental.CertificateProvider`;
 *   `grpcServerCredentials()` wraps it. grpc-js applies each update with
 *   `http2SecureServer.setSecureContext`, so new connections get the new
 *   certificate and client CA while open connections keep theirs.
 * - Connect (node:https / http2 secure): `secureServerOptions()` for the
 *   constructor and `attachSecureServer(server)` to apply later reloads.
 *
 * Reloads happen on `reload()`, on SIGHUP (`watchSighup`), when the files
 * change (folder watch, debounced) and on a bounded polling interval. New
 * material that fails the checks of tls-material.ts is refused and reported
 * through `onEvent`; the old material keeps being served.
 */
import * as grpc from "@grpc/grpc-js";
import type { SecureContextOptions } from "node:tls";
import { checkTlsMaterial, digestOf, MAX_TLS_FILE_BYTES, readTlsFiles, type TlsFiles, type TlsMaterial } from "./tls-material.js";
import { watchFiles } from "./tls-watch.js";

export type { TlsFiles, TlsMaterial } from "./tls-material.js";

export type ReloadTrigger = "manual" | "sighup" | "watch" | "poll";

/** What a reload did; hand it to the logger. */
export type TlsReloadEvent =
  | { readonly type: "reloaded"; readonly trigger: ReloadTrigger; readonly fingerprint256: string; readonly validTo: string; readonly clientCaCount: number }
  | { readonly type: "unchanged"; readonly trigger: ReloadTrigger }
  | { readonly type: "rejected"; readonly trigger: ReloadTrigger; readonly error: string }
  | { readonly type: "apply_failed"; readonly error: string };

export interface ReloadableTlsOptions extends TlsFiles {
  /** Re-read the files this often (ms) in case a file-system watch missed a change. Default 30 000; 0 = off; at most 3 600 000. */
  readonly pollIntervalMs?: number;
  /** Watch the files' folders for changes. Default true (fast pick-up of cert-manager / kubelet rotations). */
  readonly watch?: boolean;
  /** Quiet period after a watch event before reloading (ms). Default 200: rotations write cert and key separately. */
  readonly debounceMs?: number;
  /** Largest accepted file (bytes). Default 1 MiB. */
  readonly maxFileBytes?: number;
  /**
   * Receives every reload outcome worth logging: `reloaded`, `rejected` (old material
   * kept; a given bad content is reported once, not on every poll), `unchanged` (for
   * manual and SIGHUP reloads only) and `apply_failed`. Default: none.
   */
  readonly onEvent?: (event: TlsReloadEvent) => void;
}

/** Options for `https.createServer` / `http2.createSecureServer` (add `allowHTTP1` etc. as needed). */
export type SecureServerOptions = SecureContextOptions & {
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  readonly minVersion: "TLSv1.2";
};

/** Anything with `setSecureContext`: tls.Server, https.Server, http2.Http2SecureServer. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

const MAX_POLL_INTERVAL_MS = 3_600_000;

export class ReloadableTls implements grpc.experimental.CertificateProvider {
  private current: TlsMaterial;
  private lastRejectedDigest: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly changeListeners = new Set<(material: TlsMaterial) => void>();
  private stopWatching: (() => void) | undefined;

  private constructor(private readonly options: ReloadableTlsOptions, initial: TlsMaterial) {
    this.current = initial;
  }

  /** Loads and checks the files (throws naming the variable at fault), then starts watching them. */
  static async load(options: ReloadableTlsOptions): Promise<ReloadableTls> {
    const pollIntervalMs = options.pollIntervalMs ?? 30_000;
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 0 || pollIntervalMs > MAX_POLL_INTERVAL_MS) {
      throw new Error(`pollIntervalMs must be an integer between 0 and ${MAX_POLL_INTERVAL_MS}`);
    }
    const material = checkTlsMaterial(await readTlsFiles(options, options.maxFileBytes ?? MAX_TLS_FILE_BYTES));
    const tls = new ReloadableTls(options, material);
    tls.stopWatching = watchFiles({
      files: [options.certFile, options.keyFile, ...(options.clientCaFile === undefined ? [] : [options.clientCaFile])],
      pollIntervalMs,
      debounceMs: options.debounceMs ?? 200,
      watch: options.watch ?? true,
      onSignal: (trigger) => void tls.reload(trigger),
    });
    return tls;
  }

  /** The material being served now. */
  get material(): TlsMaterial {
    return this.current;
  }

  /** Whether client certificates are requested and required (a client CA file is configured). */
  get requiresClientCertificate(): boolean {
    return this.options.clientCaFile !== undefined;
  }

  /**
   * Re-reads the files; if they changed and pass the checks, serves them from the
   * next handshake on. Never throws: the outcome is returned (and given to onEvent).
   * Reloads run one at a time, in call order.
   */
  reload(trigger: ReloadTrigger = "manual"): Promise<TlsReloadEvent> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<TlsReloadEvent> {
    const explicit = trigger === "manual" || trigger === "sighup";
    let event: TlsReloadEvent;
    let contentsDigest: string | undefined;
    try {
      const contents = await readTlsFiles(this.options, this.options.maxFileBytes ?? MAX_TLS_FILE_BYTES);
      contentsDigest = digestOf(contents);
      if (contentsDigest === this.current.digest) {
        event = { type: "unchanged", trigger };
        if (explicit) this.options.onEvent?.(event);
        return event;
      }
      const material = checkTlsMaterial(contents);
      this.current = material;
      this.lastRejectedDigest = undefined;
      this.publish(material);
      event = { type: "reloaded", trigger, fingerprint256: material.fingerprint256, validTo: material.validTo, clientCaCount: material.clientCaCount };
    } catch (error) {
      event = { type: "rejected", trigger, error: (error as Error).message };
      const repeat = !explicit && contentsDigest !== undefined && contentsDigest === this.lastRejectedDigest;
      this.lastRejectedDigest = contentsDigest;
      if (repeat) return event;
    }
    this.options.onEvent?.(event);
    return event;
  }

  private publish(material: TlsMaterial): void {
    for (const listener of this.identityListeners) listener({ certificate: material.cert, privateKey: material.key });
    if (material.ca) for (const listener of this.caListeners) listener({ caCertificate: material.ca });
    for (const listener of this.changeListeners) listener(material);
  }

  /** Stops watching and polling. Servers keep the material they have. */
  close(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  // --- grpc.experimental.CertificateProvider ---------------------------------
  // grpc-js reads the server's initial options before it adds its watcher, so the
  // current material must be delivered asynchronously (as grpc-js's own
  // FileWatcherCertificateProvider does), never synchronously and never null.

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.current.cert, privateKey: this.current.key });
    });
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => {
      const ca = this.current.ca;
      if (this.caListeners.has(listener) && ca) listener({ caCertificate: ca });
    });
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  /**
   * grpc-js server credentials fed by this provider: client certificates required and
   * verified against the client CA when one is configured, server-only TLS otherwise.
   */
  grpcServerCredentials(): grpc.ServerCredentials {
    // grpc-js 1.14.7 names the parameters (ca, identity) but its constructor takes
    // (identity, ca). Passing this provider for both makes the order irrelevant;
    // without a client CA, `null` lands in the CA slot either way.
    return this.requiresClientCertificate
      ? grpc.experimental.createCertificateProviderServerCredentials(this, this, true)
      : grpc.experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  // --- node:https / node:http2 -------------------------------------------------

  /** Constructor options for the Connect port's secure server, from the current material. */
  secureServerOptions(): SecureServerOptions {
    const mtls = this.requiresClientCertificate;
    return { ...this.contextOptions(this.current), requestCert: mtls, rejectUnauthorized: mtls, minVersion: "TLSv1.2" };
  }

  /** Applies every later reload to `server` (new handshakes only). Returns a function that detaches it. */
  attachSecureServer(server: SecureContextTarget): () => void {
    const apply = (material: TlsMaterial): void => {
      try {
        server.setSecureContext(this.contextOptions(material));
      } catch (error) {
        this.options.onEvent?.({ type: "apply_failed", error: (error as Error).message });
      }
    };
    this.changeListeners.add(apply);
    return () => this.changeListeners.delete(apply);
  }

  private contextOptions(material: TlsMaterial): SecureContextOptions {
    return material.ca ? { cert: material.cert, key: material.key, ca: material.ca } : { cert: material.cert, key: material.key };
  }
}

/**
 * Calls `reload` on every SIGHUP (the conventional "re-read your files" signal).
 * While installed, SIGHUP no longer terminates the process. Returns a disposer.
 */
export function watchSighup(reload: () => unknown): () => void {
  const handler = (): void => {
    // A failing reload is the reload's business to report; never crash on a signal.
    Promise.resolve()
      .then(reload)
      .catch(() => undefined);
  };
  process.on("SIGHUP", handler);
  return () => {
    process.off("SIGHUP", handler);
  };
}
