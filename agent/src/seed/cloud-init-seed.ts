// PURE: the files of a cloud-init NoCloud seed (meta-data, user-data, network-config) from the
// VmSpec's CloudInit and NICs. Writing them to an ISO is seed-iso.ts's job.
import { parse, stringify } from "yaml";
import { InvalidArgumentError } from "#shared/errors.js";
import type { CloudInit, NicSpec } from "#shared/protocol.js";

export interface SeedFiles {
  "meta-data": string;
  "user-data": string;
  /** Absent when neither the user nor the NICs ask for a network configuration. */
  "network-config"?: string;
}

export interface SeedInput {
  /** Stable per VM: cloud-init re-runs first-boot modules when it changes (cloudInit.instanceId, when set, wins). */
  instanceId: string;
  /** Used when cloudInit.hostname is empty. */
  defaultHostname: string;
  cloudInit: CloudInit;
  nics?: NicSpec[];
}

const CLOUD_CONFIG_HEADER = "#cloud-config";

function parseYamlObject(text: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parse(text);
  } catch (e) {
    throw new InvalidArgumentError(field, `not valid YAML: ${(e as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError(field, "must be a YAML mapping");
  return value as Record<string, unknown>;
}

/** A hostname cloud-init and the guest accept: letters, digits and hyphens, at most 63 chars. */
export function sanitizeHostname(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63) || "orbit-vm";
}

export function buildMetaData(input: SeedInput): string {
  const userMeta = input.cloudInit.metaData ? parseYamlObject(input.cloudInit.metaData, "cloudInit.metaData") : {};
  const meta: Record<string, unknown> = {
    "instance-id": input.cloudInit.instanceId || input.instanceId,
    "local-hostname": input.cloudInit.hostname || sanitizeHostname(input.defaultHostname),
    ...userMeta,
  };
  // Keys also go to meta-data so they reach the guest when user-data is a script, not #cloud-config.
  if (input.cloudInit.sshAuthorizedKeys.length > 0 && !isCloudConfig(input.cloudInit.userData)) {
    meta["public-keys"] = [...input.cloudInit.sshAuthorizedKeys];
  }
  return stringify(meta);
}

function isCloudConfig(userData: string): boolean {
  return userData.trimStart().startsWith(CLOUD_CONFIG_HEADER);
}

/**
 * user-data: the user's #cloud-config with Orbit's SSH keys merged into ssh_authorized_keys (no
 * duplicates, the user's first); any other user-data (scripts, MIME multipart, #include...) is
 * passed through untouched; no user-data at all becomes a minimal #cloud-config.
 */
export function buildUserData(cloudInit: CloudInit): string {
  const raw = cloudInit.userData;
  const keys = cloudInit.sshAuthorizedKeys;
  if (raw.trim() !== "" && !isCloudConfig(raw)) return raw;
  const config = raw.trim() === "" ? {} : parseYamlObject(raw, "cloudInit.userData");
  if (keys.length > 0) {
    const existing = config.ssh_authorized_keys;
    if (existing !== undefined && !Array.isArray(existing)) {
      throw new InvalidArgumentError("cloudInit.userData", "ssh_authorized_keys must be a list");
    }
    const merged = [...((existing as unknown[] | undefined) ?? [])];
    for (const k of keys) if (!merged.includes(k)) merged.push(k);
    config.ssh_authorized_keys = merged;
  }
  if (cloudInit.hostname && config.hostname === undefined) config.hostname = cloudInit.hostname;
  return `${CLOUD_CONFIG_HEADER}\n${Object.keys(config).length > 0 ? stringify(config) : ""}`;
}

/**
 * network-config v2: the user's (the manager's) when given, else per NIC matched by MAC: its
 * static address when the spec has one, DHCP otherwise.
 */
export function buildNetworkConfig(cloudInit: CloudInit, nics: NicSpec[] = []): string | undefined {
  if (cloudInit.networkConfig.trim() !== "") {
    parseYamlObject(cloudInit.networkConfig, "cloudInit.networkConfig");
    return cloudInit.networkConfig;
  }
  const withMac = nics.filter((n) => n.mac !== "");
  if (withMac.length === 0) return undefined;
  const ethernets: Record<string, unknown> = {};
  withMac.forEach((n, i) => {
    const match = { match: { macaddress: n.mac.toLowerCase() }, "set-name": `eth${i}` };
    ethernets[`nic${i}`] = n.ipAddress
      ? { ...match, dhcp4: false, addresses: [`${n.ipAddress}/${n.prefixLength}`], ...(n.gateway ? { routes: [{ to: "default", via: n.gateway }] } : {}) }
      : { ...match, dhcp4: true, dhcp6: true };
  });
  return stringify({ version: 2, ethernets });
}

export function buildSeedFiles(input: SeedInput): SeedFiles {
  const network = buildNetworkConfig(input.cloudInit, input.nics);
  return {
    "meta-data": buildMetaData(input),
    "user-data": buildUserData(input.cloudInit),
    ...(network === undefined ? {} : { "network-config": network }),
  };
}
