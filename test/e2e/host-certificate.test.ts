// The agent's host key and CSR against the manager's CA: both sides, so it lives outside either workspace.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { certificateNeedsRenewal, hostCsrPem, newHostKeyPem } from "../../agent/src/connection/host-key.js";
import { CertificateAuthority } from "../../manager/src/security/certificate-authority.js";

const HOST = "7d3f0c8e-2d0e-4f57-9e0b-1b2c3d4e5f60";

describe("host key and CSR", () => {
  it("makes a P-256 key whose CSR the manager's CA signs for that key", async () => {
    const keyPem = newHostKeyPem();
    expect(createPrivateKey(keyPem).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const ca = await CertificateAuthority.create();
    const issued = await ca.signHostCsr(await hostCsrPem(keyPem, HOST), HOST, 90);
    expect(new X509Certificate(issued.certPem).checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
  });

  it("asks for renewal after two thirds of the lifetime, or when the certificate is unreadable", async () => {
    const ca = await CertificateAuthority.create();
    const issued = await ca.signHostCsr(await hostCsrPem(newHostKeyPem(), HOST), HOST, 90);
    expect(certificateNeedsRenewal(issued.certPem, new Date())).toBe(false);
    expect(certificateNeedsRenewal(issued.certPem, new Date(Date.now() + 59 * 86_400_000))).toBe(false);
    expect(certificateNeedsRenewal(issued.certPem, new Date(Date.now() + 61 * 86_400_000))).toBe(true);
    expect(certificateNeedsRenewal("garbage")).toBe(true);
  });
});
