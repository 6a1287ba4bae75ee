// The host's mTLS key and its certificate signing request. The key never leaves the host: the
// manager only sees the CSR and answers with a certificate for it. ECDSA P-256, like the CA.
import "reflect-metadata"; // @peculiar/x509 needs the Reflect polyfill loaded before it.
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

const KEY_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", hash: "SHA-256" } as const;

/** A new private key, PKCS#8 PEM. */
export function newHostKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A CSR for the key; the subject is a hint only (the manager names the host itself). */
export async function hostCsrPem(keyPem: string, hostUuid: string): Promise<string> {
  const priv = createPrivateKey(keyPem);
  const pub = createPublicKey(priv);
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", priv.export({ type: "pkcs8", format: "der" }), KEY_ALG, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", pub.export({ type: "spki", format: "der" }), KEY_ALG, true, ["verify"]),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: `CN=${hostUuid}`, keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"], signingAlgorithm: SIGN_ALG },
    webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1],
  );
  return csr.toString("pem");
}

/** When the certificate should be renewed: once two thirds of its lifetime are gone. */
export function certificateRenewalDue(certPem: string): Date {
  const c = new X509Certificate(certPem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return new Date(from + ((to - from) * 2) / 3);
}

/** Whether the certificate should be renewed now (also when it cannot be read). */
export function certificateNeedsRenewal(certPem: string, now = new Date()): boolean {
  try {
    return now >= certificateRenewalDue(certPem);
  } catch {
    return true;
  }
}
