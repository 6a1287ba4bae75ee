// OpenSSH keys for key pairs: validating an imported public key (and computing its
// fingerprints), and generating a key pair whose private key is handed out once. Parsing and
// encoding are sshpk's; key generation is node's (OpenSSL).
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import sshpk from "sshpk";
import { InvalidArgumentError } from "#shared/errors.js";

/** Public key types accepted on import (DSA and security-key types are not). */
export const SSH_KEY_TYPES = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** OpenSSH refuses RSA keys under 2048 bits by default; above 16384 is OpenSSH's own limit. */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 16384;

export interface SshPublicKey {
  /** The key as given, without surrounding whitespace: "<type> <base64> [comment]". */
  text: string;
  type: SshKeyType;
  bits: number;
  /** MD5 of the key blob, colon-separated hex (Hyperstack's and OpenStack's fingerprint). */
  fingerprintMd5: string;
  /** "SHA256:<base64>", as `ssh-keygen -l` prints it. */
  fingerprintSha256: string;
}

const FIELD = "public_key";

function isSshKeyType(s: string): s is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(s);
}

/** The type name a parsed key has on the wire (sshpk only gives the algorithm and curve). */
function wireType(key: sshpk.Key): string {
  if (key.type === "ecdsa") return `ecdsa-sha2-${key.curve ?? ""}`;
  return key.type === "rsa" ? "ssh-rsa" : key.type === "ed25519" ? "ssh-ed25519" : key.type;
}

/**
 * Validates one OpenSSH public key line ("ssh-ed25519 AAAA... comment"); throws an
 * InvalidArgumentError naming public_key when it is not an acceptable key.
 */
export function parseSshPublicKey(input: string): SshPublicKey {
  const text = input.trim();
  if (text === "") throw new InvalidArgumentError(FIELD, "public_key is empty");
  if (text.startsWith("-----BEGIN")) {
    throw new InvalidArgumentError(FIELD, "public_key must be an OpenSSH public key (the one line of a .pub file), not a PEM block; never send a private key");
  }
  if (/[\r\n]/.test(text)) throw new InvalidArgumentError(FIELD, "public_key must be one line: a single OpenSSH public key");
  const [declared = "", data = ""] = text.split(/[ \t]+/);
  if (!isSshKeyType(declared)) {
    throw new InvalidArgumentError(FIELD, `public_key type "${declared.slice(0, 40)}" is not supported; use one of ${SSH_KEY_TYPES.join(", ")}`);
  }
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(text, "ssh");
  } catch (e) {
    if (e instanceof sshpk.KeyParseError) {
      throw new InvalidArgumentError(FIELD, `public_key is not a valid ${declared} key: its key data must be the base64 of a ${declared} key`);
    }
    throw e;
  }
  const actual = wireType(key);
  if (actual !== declared) throw new InvalidArgumentError(FIELD, `public_key says ${declared} but its key data is a ${actual} key`);
  // sshpk ignores bytes after the key; OpenSSH does not accept them.
  if (!Buffer.from(data, "base64").equals(key.toBuffer("rfc4253"))) {
    throw new InvalidArgumentError(FIELD, "public_key's key data has trailing bytes after the key");
  }
  if (key.type === "rsa" && key.size < MIN_RSA_BITS) {
    throw new InvalidArgumentError(FIELD, `public_key is a ${key.size}-bit RSA key; RSA keys must have at least ${MIN_RSA_BITS} bits`);
  }
  if (key.type === "rsa" && key.size > MAX_RSA_BITS) {
    throw new InvalidArgumentError(FIELD, `public_key is a ${key.size}-bit RSA key; RSA keys may have at most ${MAX_RSA_BITS} bits`);
  }
  return {
    text, type: declared, bits: key.size,
    fingerprintMd5: key.fingerprint("md5").toString("hex"),
    fingerprintSha256: key.fingerprint("sha256").toString("base64"),
  };
}

export const GENERATED_KEY_TYPES = ["ed25519", "rsa", "ecdsa"] as const;
export type GeneratedKeyType = (typeof GENERATED_KEY_TYPES)[number];

/** ssh-keygen's defaults: RSA 3072 bits, ECDSA on nistp256. */
export const GENERATED_RSA_BITS = 3072;

const generate = promisify(generateKeyPair);

async function privateKeyPem(type: GeneratedKeyType): Promise<string> {
  const { privateKey } = type === "ed25519" ? await generate("ed25519")
    : type === "rsa" ? await generate("rsa", { modulusLength: GENERATED_RSA_BITS })
    : await generate("ec", { namedCurve: "P-256" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A new key pair: the private key in OpenSSH's format, the public key as one line, both with `comment`. */
export async function generateSshKeyPair(type: GeneratedKeyType, comment: string): Promise<{ privateKey: string; publicKey: string }> {
  const key = sshpk.parsePrivateKey(await privateKeyPem(type), "pem");
  key.comment = comment;
  return { privateKey: key.toString("ssh"), publicKey: key.toPublic().toString("ssh") };
}
