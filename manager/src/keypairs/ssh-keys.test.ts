import sshpk from "sshpk";
import { describe, expect, it } from "vitest";
import { GENERATED_KEY_TYPES, generateSshKeyPair, parseSshPublicKey } from "./ssh-keys.js";
import { DSA, KEYS, RSA_1024 } from "./testing/ssh-key-fixtures.js";

const refusal = (input: string) => {
  try {
    parseSshPublicKey(input);
  } catch (e) {
    return e as { code: string; field: string; message: string };
  }
  throw new Error(`accepted: ${input.slice(0, 60)}`);
};

describe("parseSshPublicKey", () => {
  it.each(Object.entries(KEYS))("accepts %s with ssh-keygen's fingerprints", (_name, k) => {
    const parsed = parseSshPublicKey(k.line);
    expect(parsed).toMatchObject({ text: k.line, type: k.line.split(" ")[0], bits: k.bits, fingerprintMd5: k.md5, fingerprintSha256: k.sha256 });
  });

  it("takes a key without a comment, with surrounding whitespace and a trailing newline, as cat prints it", () => {
    const [type, data] = KEYS.ed25519.line.split(" ");
    expect(parseSshPublicKey(`${type} ${data}`).fingerprintMd5).toBe(KEYS.ed25519.md5);
    expect(parseSshPublicKey(`  ${KEYS.ed25519.line}\n`).text).toBe(KEYS.ed25519.line);
    expect(parseSshPublicKey(`${type} ${data} a comment with spaces`).fingerprintMd5).toBe(KEYS.ed25519.md5);
  });

  it.each([
    ["empty", "   ", /empty/],
    ["RSA under 2048 bits", RSA_1024, /1024-bit RSA key; RSA keys must have at least 2048 bits/],
    ["DSA", DSA, /type "ssh-dss" is not supported/],
    ["an unknown type", "ssh-foo AAAA", /type "ssh-foo" is not supported/],
    ["a security-key type", `sk-ssh-ed25519@openssh.com ${KEYS.ed25519.line.split(" ")[1]}`, /is not supported/],
    ["a type that does not match the key data", `ssh-rsa ${KEYS.ed25519.line.split(" ")[1]}`, /not a valid ssh-rsa key/],
    ["another ECDSA curve than the data's", `ecdsa-sha2-nistp256 ${KEYS.ecdsa384.line.split(" ")[1]}`, /says ecdsa-sha2-nistp256 but its key data is a ecdsa-sha2-nistp384 key/],
    ["truncated key data", `ssh-ed25519 ${KEYS.ed25519.line.split(" ")[1]!.slice(0, 40)}`, /not a valid ssh-ed25519 key/],
    ["trailing bytes after the key", `ssh-ed25519 ${KEYS.ed25519.line.split(" ")[1]}AAAA`, /trailing bytes/],
    ["not base64", "ssh-ed25519 not*base64!", /not a valid ssh-ed25519 key/],
    ["no key data", "ssh-ed25519", /not a valid ssh-ed25519 key/],
    ["two keys", `${KEYS.ed25519.line}\n${KEYS.rsa2048.line}`, /must be one line/],
    ["a PEM block", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", /not a PEM block/],
  ])("refuses %s, naming public_key", (_what, input, message) => {
    const e = refusal(input);
    expect(e).toMatchObject({ code: "invalid_argument", field: "public_key" });
    expect(e.message).toMatch(message);
  });
});

describe("generateSshKeyPair", () => {
  it.each(GENERATED_KEY_TYPES)("makes a %s pair whose OpenSSH private key signs what its public key verifies", async (type) => {
    const { privateKey, publicKey } = await generateSshKeyPair(type, "my-key");
    expect(privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    const parsed = parseSshPublicKey(publicKey);
    expect(publicKey.endsWith(" my-key")).toBe(true);
    expect(parsed.type).toBe({ ed25519: "ssh-ed25519", rsa: "ssh-rsa", ecdsa: "ecdsa-sha2-nistp256" }[type]);
    if (type === "rsa") expect(parsed.bits).toBe(3072);

    const priv = sshpk.parsePrivateKey(privateKey, "ssh");
    expect(priv.toPublic().fingerprint("md5").toString("hex")).toBe(parsed.fingerprintMd5);
    const signer = priv.createSign("sha512");
    signer.update("orbit");
    const signature = signer.sign();
    const verifier = sshpk.parseKey(publicKey, "ssh").createVerify("sha512");
    verifier.update("orbit");
    expect(verifier.verify(signature)).toBe(true);
  });

  it("makes a different key every time", async () => {
    const a = await generateSshKeyPair("ed25519", "k");
    const b = await generateSshKeyPair("ed25519", "k");
    expect(a.publicKey).not.toBe(b.publicKey);
  });
});
