import { describe, expect, it } from "vitest";
import { parseSimArgs } from "./sim-args.js";

describe("parseSimArgs", () => {
  it("has defaults and reads every flag", () => {
    expect(parseSimArgs(["--token", "t"])).toMatchObject({
      managers: ["127.0.0.1:9090"], count: 100, seed: 1, agentsPerConnection: 1, latencyScale: 1, failRate: 0, kills: [], killMode: "cancel", exit: false,
    });
    const o = parseSimArgs([
      "--manager", "10.0.0.1:9090,10.0.0.2:9090", "--count", "300", "--mix", "cpu:1,h100:1", "--seed", "9", "--agents-per-connection", "50",
      "--latency-scale", "0", "--fail-rate", "0.05", "--kill", "3@10,7@12.5", "--kill-mode", "silent", "--measure-s", "30", "--exit",
      "--storage-heartbeat-dir", "/mnt/hb", "--cluster-address", "100::1",
    ], { ORBIT_AGENT_TOKEN: "from-env" });
    expect(o).toMatchObject({
      managers: ["10.0.0.1:9090", "10.0.0.2:9090"], token: "from-env", count: 300, mix: "cpu:1,h100:1", seed: 9, agentsPerConnection: 50,
      latencyScale: 0, failRate: 0.05, kills: [{ index: 3, afterS: 10 }, { index: 7, afterS: 12.5 }], killMode: "silent", measureS: 30, exit: true,
      storageHeartbeatDir: "/mnt/hb", clusterAddress: "100::1",
    });
  });

  it.each([
    [[], /--token/],
    [["--token", "t", "--count=-1"], /--count: "-1" is not a whole number ≥ 0/],
    [["--token", "t", "--count", "ten"], /--count: "ten"/],
    [["--token", "t", "--fail-rate", "1.5"], /--fail-rate: "1.5" is not a number ≥ 0 and ≤ 1/],
    [["--token", "t", "--agents-per-connection", "0"], /--agents-per-connection/],
    [["--token", "t", "--manager", "nohost"], /--manager: "nohost" is not HOST:PORT/],
    [["--token", "t", "--mix", "tpu:1"], /unknown host kind/],
    [["--token", "t", "--count", "5", "--kill", "5@1"], /host 5 does not exist/],
    [["--token", "t", "--kill", "x"], /--kill: "x" is not INDEX@SECONDS/],
    [["--token", "t", "--kill-mode", "explode"], /--kill-mode/],
    [["--token", "t", "--log-level", "loud"], /--log-level/],
    [["--token", "t", "--bogus"], /Unknown option '--bogus'/],
    [["--token", "t", "--cluster-address=-c1"], /--cluster-address: "-c1"/],
    [["--token", "t", "--storage-heartbeat-dir", " "], /--storage-heartbeat-dir: empty/],
  ])("refuses %j", (argv, err) => {
    expect(() => parseSimArgs(argv as string[])).toThrow(err);
  });
});
