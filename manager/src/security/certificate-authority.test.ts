import { X509Certificate, createPrivateKey, generateKeyPairSync, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority.js";
import { x509 } from "./x509.js";

const HOST = "0b0e6a4e-7c53-4d7e-9a34-3f1f6c2a9d10";

async function csr(cn = "ignored", alg: "ec" | "rsa1024" = "ec"): Promise<string> {
  const keys = alg === "ec"
    ? await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])
    : await webcrypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`,
    keys: keys as never,
    signingAlgorithm: alg === "ec" ? { name: "ECDSA", hash: "SHA-256" } as never : { name: "RSASSA-PKCS1-v1_5" },
  });
  return req.toString("pem");
}

describe("CertificateAuthority", () => {
  it("creates a self-signed CA that round-trips through PEM", async () => {
    const ca = await CertificateAuthority.create({ commonName: "test CA" });
    const c = new X509Certificate(ca.certPem);
    expect(c.ca).toBe(true);
    expect(c.subject).toContain("CN=test CA");
    expect(c.verify(c.publicKey)).toBe(true);
    expect(c.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    const again = await CertificateAuthority.fromPem(ca.certPem, ca.keyPem);
    expect(again.fingerprintSha256).toBe(ca.fingerprintSha256);
    expect(ca.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses a key that does not match the CA certificate", async () => {
    const a = await CertificateAuthority.create();
    const b = await CertificateAuthority.create();
    await expect(CertificateAuthority.fromPem(a.certPem, b.keyPem)).rejects.toThrow(/does not match/);
  });

  it("issues a server certificate with DNS and IP names, for server auth only", async () => {
    const ca = await CertificateAuthority.create();
    const { certPem, keyPem } = await ca.issueServerCertificate(["127.0.0.1", "localhost", "manager.example.net", "localhost"]);
    const c = new X509Certificate(certPem);
    expect(c.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(c.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(c.ca).toBe(false);
    expect(c.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost, DNS:manager.example.net");
    expect(c.checkHost("manager.example.net")).toBe("manager.example.net");
    expect(c.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(c.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
  });

  it("signs a host CSR binding the host uuid in CN and URI SAN, whatever the CSR asked for", async () => {
    const ca = await CertificateAuthority.create();
    const issued = await ca.signHostCsr(await csr("someone-else"), HOST.toUpperCase(), 90);
    const c = new X509Certificate(issued.certPem);
    expect(c.subject).toContain(`CN=${HOST}`);
    expect(c.subjectAltName).toBe(`URI:orbit:host:${HOST}`);
    expect(c.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(issued.serial).toBe(c.serialNumber.toLowerCase());
    const days = (issued.notAfter.getTime() - issued.notBefore.getTime()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
    expect(ca.verifyHostCertificate(c.raw)).toEqual({ hostUuid: HOST, serial: issued.serial, notAfter: issued.notAfter });
  });

  it("gives every certificate its own serial", async () => {
    const ca = await CertificateAuthority.create();
    const req = await csr();
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) serials.add((await ca.signHostCsr(req, HOST, 1)).serial);
    expect(serials.size).toBe(5);
  });

  it("refuses a malformed CSR, a CSR whose signature is broken and a weak key", async () => {
    const ca = await CertificateAuthority.create();
    await expect(ca.signHostCsr("not a csr", HOST, 90)).rejects.toMatchObject({ code: "invalid_argument", field: "csr_pem" });
    const good = new x509.Pkcs10CertificateRequest(await csr());
    const raw = new Uint8Array(good.rawData.slice(0));
    raw[raw.length - 3] = raw[raw.length - 3]! ^ 0xff;
    const broken = x509.PemConverter.encode(raw.buffer, "CERTIFICATE REQUEST");
    await expect(ca.signHostCsr(broken, HOST, 90)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(ca.signHostCsr(await csr("x", "rsa1024"), HOST, 90)).rejects.toThrow(/not accepted/);
    await expect(ca.signHostCsr(await csr(), "not-a-uuid", 90)).rejects.toMatchObject({ field: "host_uuid" });
  });

  it("refuses, as unauthenticated, a host certificate from another CA, a server certificate and garbage", async () => {
    const ca = await CertificateAuthority.create();
    const other = await CertificateAuthority.create();
    const foreign = await other.signHostCsr(await csr(), HOST, 90);
    expect(() => ca.verifyHostCertificate(foreign.certPem)).toThrow(/not signed by this manager's CA/);
    const server = await ca.issueServerCertificate(["localhost"]);
    expect(() => ca.verifyHostCertificate(server.certPem)).toThrow(/does not name exactly one host/);
    expect(() => ca.verifyHostCertificate(Buffer.from("junk"))).toThrow(/cannot be parsed/);
    try { ca.verifyHostCertificate(foreign.certPem); } catch (e) { expect(e).toMatchObject({ code: "unauthenticated" }); }
  });

  it("refuses a host certificate outside its validity window", async () => {
    const ca = await CertificateAuthority.create();
    const issued = await ca.signHostCsr(await csr(), HOST, 1);
    expect(() => ca.verifyHostCertificate(issued.certPem, new Date(Date.now() + 2 * 86_400_000))).toThrow(/not valid now/);
    expect(() => ca.verifyHostCertificate(issued.certPem, new Date(Date.now() - 86_400_000))).toThrow(/not valid now/);
  });

  it("never issues past the CA's own expiry", async () => {
    const ca = await CertificateAuthority.create({ validityDays: 10 });
    const issued = await ca.signHostCsr(await csr(), HOST, 90);
    expect(issued.notAfter.getTime()).toBeLessThanOrEqual(new Date(new X509Certificate(ca.certPem).validTo).getTime());
  });

  it("accepts an RSA 2048 CSR made by node:crypto keys", async () => {
    const ca = await CertificateAuthority.create();
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const keys = {
      privateKey: await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), alg, true, ["sign"]),
      publicKey: await webcrypto.subtle.importKey("spki", publicKey.export({ type: "spki", format: "der" }), alg, true, ["verify"]),
    };
    const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys: keys as never, signingAlgorithm: alg });
    const issued = await ca.signHostCsr(req.toString("pem"), HOST, 90);
    expect(ca.verifyHostCertificate(issued.certPem).hostUuid).toBe(HOST);
  });
});
