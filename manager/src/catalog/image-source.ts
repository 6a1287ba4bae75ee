// What an admin registers an image from: an http(s) URL, a checksum in CloudStack's accepted
// algorithms, and the file's type. Checked before anything is stored (400s naming the field).
import { InvalidArgumentError } from "#shared/errors.js";

export const IMAGE_TYPES = ["qcow2", "raw", "iso"] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

// Hex digits per algorithm: a checksum of the wrong length can never match.
const HEX_LENGTH = { md5: 32, sha1: 40, sha256: 64, sha512: 128 } as const;
export type ChecksumAlgorithm = keyof typeof HEX_LENGTH;

export function parseChecksum(value: string): { algorithm: ChecksumAlgorithm; hex: string } {
  const m = /^(md5|sha1|sha256|sha512):([0-9a-fA-F]+)$/.exec(value);
  const algorithm = m?.[1] as ChecksumAlgorithm | undefined;
  if (!m || !algorithm || m[2]!.length !== HEX_LENGTH[algorithm]) {
    throw new InvalidArgumentError("checksum", `checksum must be "<algorithm>:<hex>" with md5, sha1, sha256 or sha512 and its full hex digest, e.g. "sha256:" and 64 hex digits`);
  }
  return { algorithm, hex: m[2]!.toLowerCase() };
}

export function checkSourceUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("url", "url is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError("url", `url must be http or https, not ${url.protocol.replace(/:$/, "")}`);
  if (url.username || url.password) throw new InvalidArgumentError("url", "url must not carry credentials (they would be shown to every admin)");
  return url.toString();
}
