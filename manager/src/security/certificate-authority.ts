// The manager's certificate authority: an ECDSA P-256 key and a self-signed CA certificate that
// sign the gRPC server certificate and one client certificate per host. A host certificate binds
// the host id twice: subject CN = host uuid and URI SAN "orbit:host:<uuid>". No storage here
// (ca-store.ts keeps the CA in the database); Node's crypto cannot sign X.509, @peculiar/x509 does.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { InvalidArgumentError, UnauthenticatedError } from "#shared/errors.js";
import { x509 } from "./x509.js";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const KEY_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** Certificates start a little in the past so a host whose clock lags still accepts them. */
const BACKDATE_MS = 5 * 60_000;

export const HOST_URI_PREFIX = "orbit:host:";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface KeyAndCertificate { keyPem: string; certPem: string }

export interface IssuedCertificate {
  certPem: string;
  /** Lowercase hex, as Node's X509Certificate reads it. */
  serial: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface VerifiedHostCertificate { hostUuid: string; serial: string; notAfter: Date }

/** A positive serial with no leading zero byte, so every parser prints it the same way. */
function newSerial(): string {
  const b = randomBytes(16);
  b[0] = 0x40 | (b[0]! & 0x3f);
  return b.toString("hex");
}

function keyObjectPem(k: KeyObject): string {
  return k.export({ type: "pkcs8", format: "pem" }).toString();
}

async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const der = createPrivateKey(keyPem).export({ type: "pkcs8", format: "der" });
  return webcrypto.subtle.importKey("pkcs8", der, KEY_ALG, false, ["sign"]) as Promise<CryptoKey>;
}

async function newKeyPair(): Promise<{ keys: CryptoKeyPair; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { keys, keyPem: keyObjectPem(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })) };
}

function describe(certPem: string): IssuedCertificate {
  const c = new X509Certificate(certPem);
  return {
    certPem,
    serial: c.serialNumber.toLowerCase(),
    fingerprintSha256: c.fingerprint256.replace(/:/g, "").toLowerCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
  };
}

/** Refuses CSR keys too weak to trust: ECDSA on P-256/P-384, or RSA of 2048 bits and more. */
function checkCsrKey(spki: ArrayBuffer): void {
  const k = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  const d = k.asymmetricKeyDetails ?? {};
  const ok = (k.asymmetricKeyType === "ec" && (d.namedCurve === "prime256v1" || d.namedCurve === "secp384r1"))
    || (k.asymmetricKeyType === "rsa" && (d.modulusLength ?? 0) >= 2048)
    || k.asymmetricKeyType === "ed25519";
  if (!ok) throw new InvalidArgumentError("csr_pem", `CSR key ${k.asymmetricKeyType} is not accepted (ECDSA P-256/P-384, Ed25519 or RSA >= 2048)`);
}

export class CertificateAuthority {
  private readonly ca: X509Certificate;

  private constructor(
    readonly certPem: string,
    readonly keyPem: string,
    private readonly signingKey: CryptoKey,
    private readonly cert: x509.X509Certificate,
  ) {
    this.ca = new X509Certificate(certPem);
  }

  /** A new CA: self-signed, may sign end-entity certificates only (path length 0). */
  static async create(opts: { commonName?: string; validityDays?: number } = {}): Promise<CertificateAuthority> {
    const { keys, keyPem } = await newKeyPair();
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: newSerial(),
      name: `CN=${opts.commonName ?? "Orbit agent CA"}, O=Orbit`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (opts.validityDays ?? 3650) * DAY_MS),
      keys,
      signingAlgorithm: SIGN_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert.toString("pem"), keyPem, keys.privateKey, cert);
  }

  static async fromPem(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    const cert = new x509.X509Certificate(certPem);
    const ca = new CertificateAuthority(certPem, keyPem, await importSigningKey(keyPem), cert);
    if (!ca.ca.checkPrivateKey(createPrivateKey(keyPem))) throw new InvalidArgumentError("ca", "the CA key does not match the CA certificate");
    return ca;
  }

  /** SHA-256 of the CA certificate (DER), lowercase hex: what an admin pins on hosts. */
  get fingerprintSha256(): string {
    return this.ca.fingerprint256.replace(/:/g, "").toLowerCase();
  }

  private async sign(params: {
    subject: string; publicKey: x509.PublicKey | CryptoKey; validityDays: number; extensions: x509.Extension[];
  }): Promise<string> {
    const now = Date.now();
    const notAfter = Math.min(now + params.validityDays * DAY_MS, this.cert.notAfter.getTime());
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerial(),
      subject: params.subject,
      issuer: this.cert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      publicKey: params.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: SIGN_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        ...params.extensions,
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
        await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
      ],
    });
    return cert.toString("pem");
  }

  /** A key and certificate for the gRPC endpoint; names are DNS names or IP addresses. */
  async issueServerCertificate(names: string[], validityDays = 365): Promise<KeyAndCertificate> {
    const unique = [...new Set(names.map((n) => n.trim()).filter(Boolean))];
    if (unique.length === 0) throw new InvalidArgumentError("names", "a server certificate needs at least one name");
    const { keys, keyPem } = await newKeyPair();
    const certPem = await this.sign({
      subject: `CN=${unique[0]}, O=Orbit`,
      publicKey: keys.publicKey,
      validityDays,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(unique.map((n) => ({ type: isIP(n) ? "ip" as const : "dns" as const, value: n }))),
      ],
    });
    return { keyPem, certPem };
  }

  /**
   * Checks a CSR (well-formed, self-signed by its key, an accepted key type) without signing it:
   * registration calls this before it consumes a token.
   */
  async checkCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (e) {
      throw new InvalidArgumentError("csr_pem", `csr_pem is not a PEM certificate signing request: ${(e as Error).message}`);
    }
    checkCsrKey(csr.publicKey.rawData);
    if (!(await csr.verify())) throw new InvalidArgumentError("csr_pem", "the CSR's signature does not match its key");
    return csr;
  }

  /**
   * A client certificate for a host. Only the CSR's key is used: subject and names are the
   * manager's (CN = host uuid, URI SAN orbit:host:<uuid>), whatever the CSR asked for.
   */
  async signHostCsr(csrPem: string, hostUuid: string, validityDays: number): Promise<IssuedCertificate> {
    const uuid = hostUuid.toLowerCase();
    if (!UUID.test(uuid)) throw new InvalidArgumentError("host_uuid", `not a host uuid: ${hostUuid}`);
    const csr = await this.checkCsr(csrPem);
    const certPem = await this.sign({
      subject: `CN=${uuid}, O=Orbit hosts`,
      publicKey: csr.publicKey,
      validityDays,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: `${HOST_URI_PREFIX}${uuid}` }]),
      ],
    });
    return describe(certPem);
  }

  /**
   * The host a client certificate speaks for, when this CA signed it and it is in its validity
   * window. Revocation is not known here (host-certificate-service.ts checks it).
   */
  verifyHostCertificate(cert: Buffer | string, now = new Date()): VerifiedHostCertificate {
    let c: X509Certificate;
    try {
      c = new X509Certificate(cert);
    } catch {
      throw new UnauthenticatedError("the client certificate cannot be parsed");
    }
    if (!c.checkIssued(this.ca) || !c.verify(this.ca.publicKey)) {
      throw new UnauthenticatedError("the client certificate was not signed by this manager's CA");
    }
    if (now < new Date(c.validFrom) || now > new Date(c.validTo)) {
      throw new UnauthenticatedError(`the client certificate is not valid now (valid ${c.validFrom} to ${c.validTo})`);
    }
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1]?.trim().toLowerCase();
    const uris = (c.subjectAltName ?? "").split(/,\s*/).filter((s) => s.startsWith(`URI:${HOST_URI_PREFIX}`))
      .map((s) => s.slice(`URI:${HOST_URI_PREFIX}`.length).toLowerCase());
    if (!cn || !UUID.test(cn) || uris.length !== 1 || uris[0] !== cn) {
      throw new UnauthenticatedError("the client certificate does not name exactly one host");
    }
    return { hostUuid: cn, serial: c.serialNumber.toLowerCase(), notAfter: new Date(c.validTo) };
  }
}
