// The caller's user and account → Hyperstack's AuthUserFields.
import type { Account } from "../../auth/account-service.js";
import type { User } from "../../auth/user-service.js";
import type { AuthUserFieldsJson } from "./auth-me.schema.js";

export function authUserFields(u: User, a: Account): AuthUserFieldsJson {
  return {
    id: u.id, name: u.name, username: u.name, email: u.email ?? "", created_at: u.createdAt.toISOString(), role: u.role,
    account: { id: a.id, name: a.name },
  };
}
