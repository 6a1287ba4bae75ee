// Accounts and API keys → the admin API's JSON.
import type { Account, AccountLimits, AccountUsage } from "../../auth/account-service.js";
import type { ApiKey } from "../../auth/api-key-service.js";
import type { AccountJsonT, AdminApiKeyT } from "./account.schema.js";

function limitsJson(l: AccountLimits): AccountJsonT["limits"] {
  return { vms: l.vms, vcpus: l.vcpus, memory_mib: l.memoryMib, gpus: l.gpus };
}

export function accountJson(a: Account, u: AccountUsage | undefined): AccountJsonT {
  return {
    id: a.id, name: a.name, disabled: a.disabled, limits: limitsJson(a.limits),
    usage: { vms: u?.vms ?? 0, vcpus: u?.vcpus ?? 0, memory_mib: u?.memoryMib ?? 0, gpus: u?.gpus ?? 0 },
    created_at: a.createdAt.toISOString(), updated_at: a.updatedAt.toISOString(),
  };
}

/** The request's limits (snake_case, partial) → the service's. */
export function limitsFromJson(l: Partial<AccountJsonT["limits"]> | undefined): Partial<AccountLimits> {
  if (!l) return {};
  return {
    ...(l.vms !== undefined && { vms: l.vms }),
    ...(l.vcpus !== undefined && { vcpus: l.vcpus }),
    ...(l.memory_mib !== undefined && { memoryMib: l.memory_mib }),
    ...(l.gpus !== undefined && { gpus: l.gpus }),
  };
}

export function adminApiKeyJson(k: ApiKey, secret?: string): AdminApiKeyT {
  return {
    id: k.id, account_id: k.accountId, user_id: k.userId, name: k.name, description: k.description, role: k.role,
    key: secret ?? `${k.prefix}…`, created_at: k.createdAt.toISOString(),
  };
}
