import type { Filter, FilterCheck } from "../plugin.js";

/** Only hosts whose agent is Up and that an admin left Enabled take new VMs. */
export class HostStateFilter implements Filter {
  static readonly NAME = "host-state";
  readonly name = HostStateFilter.NAME;
  readonly static = true;

  staticKey(): string {
    return "";
  }

  prepare(): FilterCheck {
    return {
      test: (h) => h.src.status === "Up" && h.src.resourceState === "Enabled",
      // Host state changes without the fleet being reconfigured: "now", not "never".
      explain: (h) => ({
        code: h.src.status !== "Up" ? "host_not_up" : "host_not_enabled",
        reason: h.src.status !== "Up" ? `host is ${h.src.status}` : `host is ${h.src.resourceState}`,
        unresolvable: false,
      }),
    };
  }
}
