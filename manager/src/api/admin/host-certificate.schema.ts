// What GET /v1/admin/hosts/{id}/certificates answers.
import { Type, type Static } from "@sinclair/typebox";

const DateTime = () => Type.String({ format: "date-time" });

export const HostCertificateView = Type.Object({
  serial: Type.String({ description: "Lowercase hex, as the certificate carries it" }),
  fingerprint_sha256: Type.String(),
  not_before: DateTime(),
  not_after: DateTime(),
  revoked_at: Type.Union([DateTime(), Type.Null()]),
});
export type HostCertificateView = Static<typeof HostCertificateView>;
