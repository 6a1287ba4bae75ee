// The settings of environment networks: where their CIDRs are chosen from when the admin sets
// none, and the nameservers VMs are given.
import ipaddr from "ipaddr.js";
import { z } from "zod";
import type { SettingDefinition, SettingsRegistry } from "../settings/settings-registry.js";
import { parseCidr } from "./cidr.js";

export const NETWORK_SETTING = {
  supernet: "network.private.supernet",
  prefix: "network.private.prefix",
  nameservers: "network.nameservers",
} as const;

export const NETWORK_SETTINGS: SettingDefinition[] = [
  {
    name: NETWORK_SETTING.supernet,
    description: "IPv4 block an environment's private network is chosen from (the first free block of network.private.prefix) when the admin sets no CIDR.",
    schema: z.string().refine((v) => ipaddr.IPv4.isValidCIDR(v), "must be an IPv4 CIDR such as 10.128.0.0/9"),
    // Host bits set: refused now, not at the next create.
    check: (v: string) => { parseCidr(v, NETWORK_SETTING.supernet); },
    default: "10.128.0.0/9",
  },
  {
    name: NETWORK_SETTING.prefix,
    description: "Prefix length of the private networks chosen automatically (24: 253 VMs per environment).",
    schema: z.number().int(),
    range: { min: 16, max: 29 },
    default: 24,
  },
  {
    name: NETWORK_SETTING.nameservers,
    description: "DNS servers (comma-separated IP addresses, at most 3) written into the cloud-init network-config of VMs on networks created from now on.",
    // A string: settings are numbers or strings (GET /v1/admin/settings).
    schema: z.string().refine((v) => {
      const list = splitList(v);
      return list.length <= 3 && list.every((a) => ipaddr.isValid(a));
    }, "must be at most 3 comma-separated IP addresses"),
    default: "1.1.1.1,8.8.8.8",
  },
] as SettingDefinition[];

export interface NetworkDefaults { supernet: string; prefix: number; nameservers: string[] }

export function networkDefaults(registry: Pick<SettingsRegistry, "get">): NetworkDefaults {
  return {
    supernet: registry.get<string>(NETWORK_SETTING.supernet),
    prefix: registry.get<number>(NETWORK_SETTING.prefix),
    nameservers: splitList(registry.get<string>(NETWORK_SETTING.nameservers)),
  };
}

function splitList(v: string): string[] {
  return v.split(",").map((x) => x.trim()).filter((x) => x !== "");
}
