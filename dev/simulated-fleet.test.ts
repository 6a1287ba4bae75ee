import { describe, expect, it } from "vitest";
import { simulatedGpus } from "@orbit/agent/src/drivers/simulator/simulated-gpus.js";
import { DEFAULT_FLEET } from "./simulated-fleet.js";

describe("the default embedded fleet", () => {
  it("gives every GPU its own UUID", () => {
    const uuids = DEFAULT_FLEET.flatMap((h) => simulatedGpus(h.uuid, h.gpus ?? [], h.numaCells ?? 1).map((g) => g.uuid));
    expect(uuids.length).toBe(12);
    expect(new Set(uuids).size).toBe(uuids.length);
  });
});
