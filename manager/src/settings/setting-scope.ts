// Where a setting's value applies (CloudStack's ConfigKey scopes). Every setting has a global
// value; a definition lists the narrower scopes it may also be set at. A reader resolves a value
// for a context (the host, cluster, environment and account it acts for): the narrowest scope
// with a value wins, in the order of SCOPE_PRECEDENCE.
//
// Two chains meet in that order: infrastructure (host > cluster > global: a host belongs to one
// cluster) and tenancy (environment > account > global: an environment belongs to one account).
// A context naming both (a placement for an account's environment onto a host) takes the
// infrastructure value first: the host's own limits are facts about the host.

export const SETTING_SCOPES = ["global", "environment", "cluster", "host", "account"] as const;
export type SettingScope = (typeof SETTING_SCOPES)[number];
export type NarrowScope = Exclude<SettingScope, "global">;

/** Narrowest first; global last. */
export const SCOPE_PRECEDENCE: readonly SettingScope[] = ["host", "cluster", "environment", "account", "global"];

/** A scope object: global, or one environment / cluster / host / account by id. */
export type ScopeRef = { scope: "global" } | { scope: NarrowScope; id: number };

export const GLOBAL: ScopeRef = { scope: "global" };

/** What a reader acts for; each id it knows narrows the value it gets. */
export interface SettingContext {
  hostId?: number;
  clusterId?: number;
  environmentId?: number;
  accountId?: number;
}

const CONTEXT_KEY: Record<NarrowScope, keyof SettingContext> = {
  host: "hostId", cluster: "clusterId", environment: "environmentId", account: "accountId",
};

/** How a scope is stored in settings.scope: "global" or "<scope>:<id>" (e.g. "cluster:3"). */
export function scopeKey(ref: ScopeRef): string {
  return ref.scope === "global" ? "global" : `${ref.scope}:${ref.id}`;
}

/** The scope of a stored settings.scope; undefined for a key this version does not know. */
export function parseScopeKey(key: string): ScopeRef | undefined {
  if (key === "global") return GLOBAL;
  const m = /^(environment|cluster|host|account):([1-9][0-9]{0,9})$/.exec(key);
  if (!m) return undefined;
  return { scope: m[1] as NarrowScope, id: Number(m[2]) };
}

/** The scope objects a context names, narrowest first, global last. */
export function contextChain(ctx: SettingContext): ScopeRef[] {
  const out: ScopeRef[] = [];
  for (const s of SCOPE_PRECEDENCE) {
    if (s === "global") out.push(GLOBAL);
    else {
      const id = ctx[CONTEXT_KEY[s]];
      if (id !== undefined) out.push({ scope: s, id });
    }
  }
  return out;
}
