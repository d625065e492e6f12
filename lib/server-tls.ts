// A wss:// server's TLS while it runs: certificates replaced without a restart (setTls), and the
// client certificate of each mutual-TLS handshake, matched with the event it belongs to.
import { ClosedError } from "./errors.js";
import type { NativeReactor, NativeTlsOptions } from "./native.js";
import { decodePeerCertificate, type PeerCertificate, type ResolvedTls, TlsConfigError } from "./tls-options.js";

/** The `tls*` fields of native listen()/setTls() options for resolved `tls` settings. */
export function nativeTls(tls: ResolvedTls): NativeTlsOptions {
  return {
    tlsCert: tls.cert,
    tlsKey: tls.key,
    tlsChain: tls.chain,
    tlsSni: tls.sni,
    tlsClientCa: tls.clientCa,
    tlsRequestCert: tls.requestCert,
    tlsRejectUnauthorized: tls.rejectUnauthorized,
    tlsMinVersion: tls.minVersion,
    tlsCiphers: tls.ciphers,
    tlsCiphersuites: tls.ciphersuites,
  };
}

/** The TLS state of server `id` on a reactor. */
export class ServerTls {
  readonly #native: NativeReactor;
  readonly #id: number;
  // The peer certificate of the Open/Upgrade event that follows its PeerCert event.
  #nextPeer?: { id: number; forUpgrade: boolean; cert: PeerCertificate };
  #requests = new Map<number, { resolve(): void; reject(err: Error): void }>();
  #seq = 0;

  constructor(native: NativeReactor, id: number) {
    this.#native = native;
    this.#id = id;
  }

  /** Hands new settings to the I/O thread; resolves once they apply to new handshakes. */
  replace(tls: ResolvedTls): Promise<void> {
    const seq = ++this.#seq;
    const done = new Promise<void>((resolve, reject) => this.#requests.set(seq, { resolve, reject }));
    this.#native.setTls(this.#id, seq, nativeTls(tls));
    return done;
  }

  /** Request `seq` was applied (`error` empty) or refused (`error`: "CODE message"). */
  applied(seq: number, error: string): void {
    const request = this.#requests.get(seq);
    this.#requests.delete(seq);
    if (!request) return;
    if (error === "") request.resolve();
    else request.reject(new TlsConfigError(error.startsWith("ERR_TLS_CIPHERS") ? "ERR_TLS_CIPHERS" : "ERR_TLS_CERT", error.slice(error.indexOf(" ") + 1)));
  }

  /** The server closed: requests not applied yet fail with a ClosedError. */
  closed(): void {
    for (const request of this.#requests.values()) request.reject(new ClosedError("the server closed before setTls was applied"));
    this.#requests.clear();
  }

  /** A PeerCert event: the certificate of the Open (`id`: slot) or Upgrade event that follows. */
  peerCert(id: number, forUpgrade: boolean, bytes: Buffer): void {
    const cert = decodePeerCertificate(bytes);
    this.#nextPeer = cert ? { id, forUpgrade, cert } : undefined;
  }

  /** The certificate that came for this Open or Upgrade event, if any (once). */
  takePeer(id: number, forUpgrade: boolean): PeerCertificate | undefined {
    const next = this.#nextPeer;
    this.#nextPeer = undefined;
    return next && next.id === id && next.forUpgrade === forUpgrade ? next.cert : undefined;
  }
}
