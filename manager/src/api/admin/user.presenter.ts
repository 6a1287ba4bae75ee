// Users → the admin API's JSON.
import type { User } from "../../auth/user-service.js";
import type { UserJsonT } from "./user.schema.js";

export function userJson(u: User): UserJsonT {
  return {
    id: u.id, account_id: u.accountId, name: u.name, email: u.email, role: u.role, disabled: u.disabled,
    created_at: u.createdAt.toISOString(), updated_at: u.updatedAt.toISOString(),
  };
}
