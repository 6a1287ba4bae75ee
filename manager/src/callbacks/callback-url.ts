// Which callback URLs are accepted, and where the delivery worker may connect. Callbacks are
// POSTed by the manager from inside the cloud, so a URL naming the manager's own network (an
// SSRF) is refused: cloud metadata and link-local addresses always, loopback and private
// networks unless allowed (ORBIT_CALLBACK_ALLOW_PRIVATE_ADDRESSES; on by default only in the
// embedded profile, where the receiver is usually on the same machine). The URL is checked when
// set (literal addresses, "localhost") and again at every connection, on the address DNS gave,
// so a name that later resolves to a forbidden address is refused too (DNS rebinding).
import ipaddr from "ipaddr.js";
import { InvalidArgumentError } from "#shared/errors.js";

export const MAX_CALLBACK_URL_LENGTH = 2048;

/** Never reachable by callbacks: link-local (cloud metadata at 169.254.169.254, fd00:ec2::254) and the unspecified addresses. */
export const ALWAYS_DENIED_CIDRS: readonly string[] = [
  "0.0.0.0/8", "169.254.0.0/16", "::/128", "fe80::/10", "fd00:ec2::254/128",
  "::ffff:0.0.0.0/104", "::ffff:169.254.0.0/112",
];

export interface CallbackAddressPolicy {
  /** Loopback, private (RFC 1918, unique local), CGNAT and other non-public ranges. */
  allowPrivateAddresses: boolean;
}

/** Why an address may not be connected to, or null when it may. */
export function deniedAddressReason(address: string, policy: CallbackAddressPolicy): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const parsed = ipaddr.parse(address);
  for (const cidr of ALWAYS_DENIED_CIDRS) {
    const [range, bits] = ipaddr.parseCIDR(cidr);
    if (range.kind() === parsed.kind() && parsed.match(range, bits)) return `${address} is a link-local, metadata or unspecified address`;
  }
  if (policy.allowPrivateAddresses) return null;
  const kind = parsed.range();
  return kind === "unicast" ? null : `${address} is a ${kind} address (private addresses are not allowed for callbacks here)`;
}

/**
 * Validates a callback URL as given by a user; throws a 400 naming `field`. Returns it normalized
 * (WHATWG URL serialization). Names are resolved only when connecting.
 */
export function validateCallbackUrl(raw: string, field: string, policy: CallbackAddressPolicy): string {
  const refuse = (why: string) => new InvalidArgumentError(field, `${field}: ${why}`);
  if (raw.length > MAX_CALLBACK_URL_LENGTH) throw refuse(`the callback URL is longer than ${MAX_CALLBACK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(`"${raw}" is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw refuse(`the callback URL must use http or https (got ${url.protocol.slice(0, -1)})`);
  if (url.username || url.password) throw refuse("the callback URL must not carry credentials (user:password@); authenticate callbacks with their signature");
  if (url.hash) throw refuse("the callback URL must not have a #fragment");
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (ipaddr.isValid(host)) {
    const denied = deniedAddressReason(host, policy);
    if (denied) throw refuse(denied);
  } else if (!policy.allowPrivateAddresses && (host === "localhost" || host.endsWith(".localhost"))) {
    throw refuse(`${host} is a loopback name (private addresses are not allowed for callbacks here)`);
  }
  return url.toString();
}
