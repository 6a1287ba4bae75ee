// POSTs one callback: a JSON body with its headers, a deadline for the whole exchange, no
// redirects followed (a 3xx is a failed attempt), the response body ignored. Every address the
// connection would use is checked against the callback address policy (callback-url.ts).
import * as dns from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { deniedAddressReason, type CallbackAddressPolicy } from "./callback-url.js";

export interface CallbackRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborts the attempt (the manager is stopping). */
  signal?: AbortSignal;
}

/** The receiver's status code; throws when there is none (refused address, DNS, connection, timeout). */
export type CallbackPoster = (req: CallbackRequest) => Promise<{ statusCode: number }>;

export class RefusedAddressError extends Error {}

/** dns.lookup, refusing every answer that holds an address the policy forbids. */
function guardedLookup(policy: CallbackAddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) { callback(err, "", 0); return; }
      for (const a of addresses) {
        const why = deniedAddressReason(a.address, policy);
        if (why) { callback(new RefusedAddressError(`refused to connect to ${hostname}: ${why}`), "", 0); return; }
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

export function httpCallbackPoster(policy: () => CallbackAddressPolicy, userAgent: string): CallbackPoster {
  return (req) => {
    const url = new URL(req.url);
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    // Literal addresses never reach the lookup.
    if (ipaddr.isValid(host)) {
      const why = deniedAddressReason(host, policy());
      if (why) return Promise.reject(new RefusedAddressError(`refused to connect: ${why}`));
    }
    const client = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": userAgent, ...req.headers, "content-length": Buffer.byteLength(req.body) },
        lookup: guardedLookup(policy()),
        signal: req.signal ? AbortSignal.any([AbortSignal.timeout(req.timeoutMs), req.signal]) : AbortSignal.timeout(req.timeoutMs),
        agent: false,
      }, (res) => {
        resolve({ statusCode: res.statusCode ?? 0 });
        res.destroy();
      });
      request.on("error", (e: Error) => {
        const timedOut = (e.name === "AbortError" || e.name === "TimeoutError") && !req.signal?.aborted;
        reject(timedOut ? new Error(`no answer within ${req.timeoutMs} ms`) : e);
      });
      request.end(req.body);
    });
  };
}
