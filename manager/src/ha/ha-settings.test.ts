import { describe, expect, it } from "vitest";
import { SettingsRegistry, CORE_SETTINGS } from "../settings/settings-registry.js";
import { HA_SETTINGS, HaSettings } from "./ha-settings.js";

function registry(values: Record<string, unknown>): SettingsRegistry {
  const r = new SettingsRegistry([...CORE_SETTINGS, ...HA_SETTINGS]);
  for (const [k, v] of Object.entries(values)) r.setLocal(k, v);
  return r;
}

describe("HA settings as agents are told them", () => {
  it("self-fencing defaults to the liveness window, the storage heartbeat to ping.interval", () => {
    const s = new HaSettings(registry({ "ping.interval": 1, "ping.timeout": 3 }));
    expect(s.selfFenceAfterMs()).toBe(3000);
    expect(s.storageHeartbeatIntervalMs()).toBe(1000);
  });
  it("explicit values win; -1 turns self-fencing off", () => {
    expect(new HaSettings(registry({ "kvm.heartbeat.update.timeout": 60_000, "kvm.ha.heartbeat.interval.ms": 500 })).selfFenceAfterMs()).toBe(60_000);
    expect(new HaSettings(registry({ "kvm.ha.heartbeat.interval.ms": 500 })).storageHeartbeatIntervalMs()).toBe(500);
    expect(new HaSettings(registry({ "kvm.heartbeat.update.timeout": -1 })).selfFenceAfterMs()).toBe(0);
  });
  it("only the settings agents are told about are re-broadcast", () => {
    expect(HaSettings.tellsAgents("kvm.heartbeat.update.timeout")).toBe(true);
    expect(HaSettings.tellsAgents("ping.timeout")).toBe(true);
    expect(HaSettings.tellsAgents("max.retries")).toBe(false);
  });
});
