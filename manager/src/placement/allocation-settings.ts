// The allocator's global settings: registered from the allocator's own list, validated by
// building a policy with the new value (an unknown filter or scorer name is refused), and the
// live policy rebuilt when one changes. The manager fails at start on a bad stored policy.
import { z } from "zod";
import { ALLOCATOR_SETTINGS, policyConfigFromSettings } from "../allocator/policy-config.js";
import { buildPolicy } from "../allocator/policy.js";
import type { AllocationPolicy } from "../allocator/policy-types.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";

export class AllocationSettings {
  private current: AllocationPolicy | undefined;
  private readonly names = new Set(ALLOCATOR_SETTINGS.map((s) => s.name));

  constructor(private readonly registry: SettingsRegistry) {
    for (const s of ALLOCATOR_SETTINGS) {
      const schema = s.type === "number"
        ? z.number().positive()
        : s.values ? z.enum(s.values as [string, ...string[]]) : z.string().max(4000);
      registry.define({
        name: s.name,
        description: s.description,
        schema: schema as z.ZodType<unknown>,
        default: s.default,
        ...(s.range ? { range: s.range } : {}),
        scopes: s.scopes,
        check: (value) => { buildPolicy(policyConfigFromSettings({ ...this.values(), [s.name]: value as string | number })); },
      });
    }
  }

  /** Rebuilds the live policy whenever one of its settings changes. */
  followSettings(onChange: (listener: (name: string) => void) => void): void {
    onChange((name) => { if (this.owns(name)) this.rebuild(); });
  }

  owns(name: string): boolean {
    return this.names.has(name);
  }

  private values(): Record<string, string | number> {
    return Object.fromEntries(ALLOCATOR_SETTINGS.map((s) => [s.name, this.registry.get<string | number>(s.name)]));
  }

  /** Rebuilds the live policy from the settings; throws on unknown policy names. */
  rebuild(): AllocationPolicy {
    this.current = buildPolicy(policyConfigFromSettings(this.values()));
    return this.current;
  }

  policy(): AllocationPolicy {
    return this.current ?? this.rebuild();
  }
}
