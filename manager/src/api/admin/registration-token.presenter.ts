// Registration tokens in Orbit's admin dialect.
import type { RegistrationToken } from "../../security/registration-token-service.js";
import type { RegistrationTokenView } from "./registration-token.schema.js";

export function registrationTokenView(t: RegistrationToken): RegistrationTokenView {
  return {
    id: t.id,
    note: t.note,
    state: t.state,
    created_at: t.createdAt.toISOString(),
    expires_at: t.expiresAt.toISOString(),
    used_at: t.usedAt?.toISOString() ?? null,
    used_by_host_id: t.usedByHostId,
    revoked_at: t.revokedAt?.toISOString() ?? null,
  };
}
