import { describe, expect, it } from "vitest";
import { ConflictError, InsufficientCapacityError } from "#shared/errors.js";
import { withHeartbeatMetrics } from "./heartbeat-metrics.js";
import { ManagerMetrics, codeLabel, methodLabel, rejectionReasons, routeLabel, statusClass } from "./manager-metrics.js";

/** The value of one series in the text format ("name{labels} value"); undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function metrics(connected = () => 0): ManagerMetrics {
  return new ManagerMetrics({ connectedAgents: connected, processMetrics: false });
}

describe("metric labels stay within bounded sets", () => {
  it.each([
    ["GET", "GET"], ["DELETE", "DELETE"], ["PROPFIND", "other"], ["get", "other"], ["", "other"],
  ])("method %j → %j", (m, want) => expect(methodLabel(m)).toBe(want));

  it.each([
    [200, "2xx"], [201, "2xx"], [404, "4xx"], [503, "5xx"], [99, "other"], [600, "other"], [200.5, "other"],
  ])("status %j → %j", (s, want) => expect(statusClass(s)).toBe(want));

  it.each([
    ["/v1/core/virtual-machines/:id", "/v1/core/virtual-machines/:id"],
    [undefined, "unmatched"], ["", "unmatched"],
    ["/v1/a b", "other"], [`/${"x".repeat(300)}`, "other"],
  ])("route %j → %j", (r, want) => expect(routeLabel(r)).toBe(want));

  it.each([
    ["insufficient_capacity", "insufficient_capacity"], ["vm.deploy", "vm.deploy"], ["createVm", "createVm"],
    [undefined, "other"], ["", "other"], ["has space", "other"], ["x".repeat(65), "other"],
  ])("code %j → %j", (c, want) => expect(codeLabel(c)).toBe(want));

  it("a rejection counts each distinct refusal code once; one with no host: no_hosts; other errors: none", () => {
    const refusal = (code: string) => ({ hostId: "1", hostName: "h", filter: "f", reason: "r", code, unresolvable: false });
    expect(rejectionReasons(new InsufficientCapacityError("x", [refusal("gpu_capacity"), refusal("memory"), refusal("gpu_capacity")])))
      .toEqual(["gpu_capacity", "memory"]);
    expect(rejectionReasons(new InsufficientCapacityError("x", []))).toEqual(["no_hosts"]);
    expect(rejectionReasons(new Error("boom"))).toEqual([]);
  });
});

describe("ManagerMetrics", () => {
  it("registers every series family with its help, and reads connected agents at scrape time", async () => {
    let connected = 2;
    const m = metrics(() => connected);
    let text = (await m.scrape()).body;
    for (const name of [
      "orbit_api_request_duration_seconds", "orbit_placements_total", "orbit_placed_vms_total", "orbit_placement_rejections_total",
      "orbit_placement_duration_seconds", "orbit_job_duration_seconds", "orbit_job_failures_total", "orbit_job_retries_total",
      "orbit_heartbeat_lag_seconds", "orbit_heartbeat_last_lag_seconds", "orbit_agent_command_duration_seconds", "orbit_connected_agents",
    ]) expect(text).toContain(`# HELP ${name} `);
    expect(sample(text, "orbit_connected_agents")).toBe(2);
    connected = 5;
    text = (await m.scrape()).body;
    expect(sample(text, "orbit_connected_agents")).toBe(5);
    expect(text).not.toContain("process_cpu_seconds_total"); // processMetrics: false
  });

  it("API requests: one series per route pattern, 404s under one label whatever their path", async () => {
    const m = metrics();
    m.observeRequest("GET", "/v1/core/virtual-machines/:id", 200, 0.004);
    m.observeRequest("GET", "/v1/core/virtual-machines/:id", 200, 0.02);
    for (let i = 0; i < 50; i++) m.observeRequest("GET", undefined, 404, 0.001);
    m.observeRequest("BREW", undefined, 404, 0.001);
    const text = (await m.scrape()).body;
    expect(sample(text, 'orbit_api_request_duration_seconds_count{method="GET",route="/v1/core/virtual-machines/:id",status_class="2xx"}')).toBe(2);
    expect(sample(text, 'orbit_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/core/virtual-machines/:id",status_class="2xx"}')).toBe(1);
    expect(sample(text, 'orbit_api_request_duration_seconds_count{method="GET",route="unmatched",status_class="4xx"}')).toBe(50);
    expect(sample(text, 'orbit_api_request_duration_seconds_count{method="other",route="unmatched",status_class="4xx"}')).toBe(1);
    expect(text.split("\n").filter((l) => l.startsWith("orbit_api_request_duration_seconds_count")).length).toBe(3);
  });

  it("placements by outcome, VMs placed, rejections by reason", async () => {
    const m = metrics();
    m.placed(3, 0.01);
    m.placementRefused(new InsufficientCapacityError("full", [{ hostId: "1", hostName: "a", filter: "gpu", reason: "no GPU", code: "gpu_capacity" } as never]), 0.02);
    m.placementRefused(new ConflictError("host changed"), 0.001);
    const text = (await m.scrape()).body;
    expect(sample(text, 'orbit_placements_total{outcome="placed"}')).toBe(1);
    expect(sample(text, 'orbit_placements_total{outcome="rejected"}')).toBe(1);
    expect(sample(text, 'orbit_placements_total{outcome="failed"}')).toBe(1);
    expect(sample(text, "orbit_placed_vms_total")).toBe(3);
    expect(sample(text, 'orbit_placement_rejections_total{reason="gpu_capacity"}')).toBe(1);
  });

  it("jobs: durations by kind and outcome, failures and retries by code", async () => {
    const m = metrics();
    m.jobSettled("vm.deploy", "succeeded", 1.5);
    m.jobSettled("vm.deploy", "failed", 3, "agent_unavailable");
    m.jobRetried("vm.deploy", "deadline_exceeded");
    const text = (await m.scrape()).body;
    expect(sample(text, 'orbit_job_duration_seconds_count{kind="vm.deploy",outcome="succeeded"}')).toBe(1);
    expect(sample(text, 'orbit_job_duration_seconds_sum{kind="vm.deploy",outcome="failed"}')).toBe(3);
    expect(sample(text, 'orbit_job_failures_total{kind="vm.deploy",code="agent_unavailable"}')).toBe(1);
    expect(sample(text, 'orbit_job_retries_total{kind="vm.deploy",code="deadline_exceeded"}')).toBe(1);
  });

  it("heartbeat lag: a histogram overall and the last lag per host, whose series goes with its stream", async () => {
    const m = metrics();
    const calls: string[] = [];
    const next = {
      onConnected: async () => {}, onDomainEvent: async () => {}, onLateResult: async () => {},
      onHeartbeat: async (h: number) => { calls.push(`hb ${h}`); },
      onDisconnected: async (h: number) => { calls.push(`gone ${h}`); },
    };
    const handler = withHeartbeatMetrics(next, m, () => 10_250);
    const hb = (sentAtMs: number) => ({ seq: 1, sentAtMs, domains: [], freeMemoryMib: 0, bootId: "" });
    await handler.onHeartbeat(7, hb(10_000));
    await handler.onHeartbeat(8, hb(10_500)); // agent clock ahead: gauge negative, histogram 0
    await handler.onHeartbeat(9, hb(0)); // not stamped: not counted
    let text = (await m.scrape()).body;
    expect(sample(text, 'orbit_heartbeat_last_lag_seconds{host_id="7"}')).toBe(0.25);
    expect(sample(text, 'orbit_heartbeat_last_lag_seconds{host_id="8"}')).toBe(-0.25);
    expect(sample(text, 'orbit_heartbeat_last_lag_seconds{host_id="9"}')).toBeUndefined();
    expect(sample(text, "orbit_heartbeat_lag_seconds_count")).toBe(2);
    expect(sample(text, "orbit_heartbeat_lag_seconds_sum")).toBe(0.25);
    await handler.onDisconnected(7);
    text = (await m.scrape()).body;
    expect(sample(text, 'orbit_heartbeat_last_lag_seconds{host_id="7"}')).toBeUndefined();
    expect(sample(text, 'orbit_heartbeat_last_lag_seconds{host_id="8"}')).toBe(-0.25);
    expect(calls).toEqual(["hb 7", "hb 8", "hb 9", "gone 7"]);
  });

  it("heartbeat paths and coalesced heartbeats: counted as they happen, totals at every scrape", async () => {
    const m = metrics();
    let text = (await m.scrape()).body;
    expect(sample(text, 'orbit_heartbeat_reconciles_total{pass="full"}')).toBeUndefined();
    m.heartbeatReconciled(true);
    m.heartbeatReconciled(false);
    m.heartbeatReconciled(false);
    m.heartbeatCoalesced();
    m.heartbeatsCoalesced("flush", 3);
    text = (await m.scrape()).body;
    expect(sample(text, 'orbit_heartbeat_reconciles_total{pass="full"}')).toBe(1);
    expect(sample(text, 'orbit_heartbeat_reconciles_total{pass="routine"}')).toBe(2);
    expect(sample(text, 'orbit_heartbeats_coalesced_total{where="stream"}')).toBe(1);
    expect(sample(text, 'orbit_heartbeats_coalesced_total{where="flush"}')).toBe(3);
    m.heartbeatReconciled(false);
    text = (await m.scrape()).body;
    expect(sample(text, 'orbit_heartbeat_reconciles_total{pass="routine"}')).toBe(3);
  });

  it("agent commands by kind and outcome", async () => {
    const m = metrics();
    m.commandSettled("createVm", "ok", 0.2);
    m.commandSettled("createVm", "timeout", 30);
    const text = (await m.scrape()).body;
    expect(sample(text, 'orbit_agent_command_duration_seconds_count{kind="createVm",outcome="ok"}')).toBe(1);
    expect(sample(text, 'orbit_agent_command_duration_seconds_count{kind="createVm",outcome="timeout"}')).toBe(1);
  });

  it("two managers in one process keep their own counts; the process metrics are added once each scrape", async () => {
    const a = new ManagerMetrics({ connectedAgents: () => 1 });
    const b = new ManagerMetrics({ connectedAgents: () => 0 });
    a.placed(1, 0.01);
    const [ta, tb] = [(await a.scrape()).body, (await b.scrape()).body];
    expect(sample(ta, "orbit_placed_vms_total")).toBe(1);
    expect(sample(tb, "orbit_placed_vms_total")).toBe(0);
    expect(ta.split("\n").filter((l) => l.startsWith("# HELP process_cpu_seconds_total")).length).toBe(1);
  });
});
