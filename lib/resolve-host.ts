// Host names to numeric addresses, in JS (the I/O thread does no DNS), for listen and connect.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** A lookup that failed: the DNS error's code (`ENOTFOUND`, `EAI_AGAIN`, …) and the error. */
export interface LookupFailure {
  code: string;
  cause: unknown;
}

/**
 * `host` as a numeric address: `host` itself, at once, when it is one (no DNS and no await, so a
 * caller goes on synchronously); else a promise of the first address DNS gives, as `net.connect`
 * takes it, or of the failure (it never rejects).
 */
export function resolveHost(host: string): string | Promise<string | LookupFailure> {
  if (isIP(host) !== 0) return host;
  return lookup(host).then(
    (answer) => answer.address,
    (err: unknown) => ({ code: (err as NodeJS.ErrnoException).code ?? "ENOTFOUND", cause: err }),
  );
}
