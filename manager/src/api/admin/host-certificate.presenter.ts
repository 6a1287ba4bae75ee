// Hosts' client certificates in Orbit's admin dialect.
import type { HostCertificate } from "../../security/host-certificate-service.js";
import type { HostCertificateView } from "./host-certificate.schema.js";

export function hostCertificateView(c: HostCertificate): HostCertificateView {
  return {
    serial: c.serial, fingerprint_sha256: c.fingerprintSha256, not_before: c.notBefore.toISOString(),
    not_after: c.notAfter.toISOString(), revoked_at: c.revokedAt?.toISOString() ?? null,
  };
}
