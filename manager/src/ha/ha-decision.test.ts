import { describe, expect, it } from "vitest";
import type { HostProbeEvidenceJson } from "../db/schema.js";
import { decideSuspectHost, type HaDecisionInput } from "./ha-decision.js";

const probe = (o: Partial<HostProbeEvidenceJson> = {}): HostProbeEvidenceJson => ({
  neighbourHostId: 2, neighbour: "n2", answered: true, reachable: false, storageHeartbeatSeen: true, storageHeartbeatAgeMs: 9000, detail: "", ...o,
});
const base: HaDecisionInput = { storageHeartbeatDir: "/shared/hb", selfFenceAfterMs: 3000, marginMs: 2000, heartbeatIntervalMs: 1000, probes: [probe()] };

describe("decideSuspectHost", () => {
  const table: [string, Partial<HaDecisionInput>, "Down" | "Alert" | "Suspect", RegExp][] = [
    ["unreachable, heartbeat stale past fence + margin", {}, "Down", /unreachable from n2.*9000 ms old \(past 5000 ms\)/],
    ["stale by exactly the limit is not enough: still waiting", { probes: [probe({ storageHeartbeatAgeMs: 5000 })] }, "Suspect", /stopped 5000 ms ago: waiting until it is past 5000 ms/],
    ["one ms past the limit", { probes: [probe({ storageHeartbeatAgeMs: 5001 })] }, "Down", /fenced itself/],
    ["stopped, not yet past the fence time: still Suspect", { probes: [probe({ storageHeartbeatAgeMs: 2500 })] }, "Suspect", /waiting/],
    ["a heartbeat still written (within two intervals): Alert", { probes: [probe({ storageHeartbeatAgeMs: 2000 })] }, "Alert", /still written \(2000 ms old\)/],
    ["a fresh heartbeat", { probes: [probe({ storageHeartbeatAgeMs: 800 })] }, "Alert", /800 ms old/],
    ["the freshest heartbeat counts", { probes: [probe(), probe({ neighbour: "n3", storageHeartbeatAgeMs: 100 })] }, "Alert", /100 ms old/],
    ["a neighbour reaches it", { probes: [probe(), probe({ neighbour: "n3", reachable: true })] }, "Alert", /reachable from n3/],
    ["no neighbour to probe", { probes: [] }, "Alert", /no neighbour in its cluster/],
    ["no neighbour answered", { probes: [probe({ answered: false, detail: "agent unavailable" })] }, "Alert", /no neighbour answered.*n2: agent unavailable/],
    ["an unanswered probe is ignored beside an answered one", { probes: [probe({ answered: false, reachable: true }), probe({ neighbour: "n3" })] }, "Down", /unreachable from n3/],
    ["no storage heartbeat dir: never Down automatically", { storageHeartbeatDir: "" }, "Alert", /no storage heartbeat/],
    ["self-fencing off", { selfFenceAfterMs: 0 }, "Alert", /self-fencing is off/],
    ["heartbeat not seen by anyone", { probes: [probe({ storageHeartbeatSeen: false, storageHeartbeatAgeMs: -1 })] }, "Alert", /no neighbour sees its storage heartbeat/],
  ];
  for (const [name, input, state, reason] of table) {
    it(name, () => {
      const v = decideSuspectHost({ ...base, ...input });
      expect(v.state).toBe(state);
      expect(v.reason).toMatch(reason);
    });
  }
});
