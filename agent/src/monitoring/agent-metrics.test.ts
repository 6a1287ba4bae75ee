import { afterEach, describe, expect, it } from "vitest";
import { startMetricsHttpServer, parseListenAddress, type MetricsHttpServer } from "#shared/metrics-http-server.js";
import { AgentMetrics, commandKindLabel } from "./agent-metrics.js";

function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("AgentMetrics", () => {
  it.each([["createVm", "createVm"], ["getVmStats", "getVmStats"], [undefined, "other"], ["", "other"], ["a b", "other"], ["x".repeat(65), "other"]])(
    "command kind %j → %j", (k, want) => expect(commandKindLabel(k)).toBe(want));

  it("counts commands by kind and outcome, heartbeats, reconnects after the first connection, failures", async () => {
    const m = new AgentMetrics({ processMetrics: false });
    expect(m.connectedToManager).toBe(false);
    m.connectFailed();
    m.connected();
    m.heartbeatSent();
    m.heartbeatSent();
    m.commandExecuted("createVm", true, 0.3);
    m.commandExecuted("createVm", false, 0.1);
    m.commandExecuted(undefined, true, 0.01);
    let t = (await m.scrape()).body;
    expect(m.connectedToManager).toBe(true);
    expect(value(t, "orbit_agent_manager_connected")).toBe(1);
    expect(value(t, "orbit_agent_reconnects_total")).toBe(0);
    expect(value(t, "orbit_agent_connect_failures_total")).toBe(1);
    expect(value(t, "orbit_agent_heartbeats_sent_total")).toBe(2);
    expect(value(t, 'orbit_agent_command_duration_seconds_count{kind="createVm",outcome="ok"}')).toBe(1);
    expect(value(t, 'orbit_agent_command_duration_seconds_count{kind="createVm",outcome="error"}')).toBe(1);
    expect(value(t, 'orbit_agent_command_duration_seconds_count{kind="other",outcome="ok"}')).toBe(1);
    expect(t).not.toContain("process_cpu_seconds_total");
    m.disconnected();
    expect(m.connectedToManager).toBe(false);
    m.connected();
    t = (await m.scrape()).body;
    expect(value(t, "orbit_agent_reconnects_total")).toBe(1);
    expect(value(t, "orbit_agent_manager_connected")).toBe(1);
  });

  it("includes the process metrics by default", async () => {
    expect((await new AgentMetrics().scrape()).body).toContain("process_cpu_seconds_total");
  });
});

describe("metrics listener", () => {
  let server: MetricsHttpServer | undefined;
  afterEach(async () => { await server?.close(); server = undefined; });

  it.each([
    ["127.0.0.1:9464", { host: "127.0.0.1", port: 9464 }], ["[::1]:0", { host: "::1", port: 0 }], ["agent-1.lan:80", { host: "agent-1.lan", port: 80 }],
    ["9464", undefined], [":9464", undefined], ["h:65536", undefined], ["h :1", undefined], ["h:-1", undefined],
  ])("listen address %j → %j", (s, want) => expect(parseListenAddress(s)).toEqual(want));

  it("serves /metrics, /healthz, /readyz (following readiness), 404 elsewhere, 405 for other methods", async () => {
    const m = new AgentMetrics({ processMetrics: false });
    server = await startMetricsHttpServer({
      host: "127.0.0.1", port: 0, setting: "metrics.listen", metrics: () => m.scrape(),
      ready: async () => m.connectedToManager ? { ready: true } : { ready: false, reason: "not connected to a manager" },
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const get = async (p: string, method = "GET") => {
      const r = await fetch(`${server!.url}${p}`, { method });
      return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
    };
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain/);
    expect(metrics.text).toContain("# HELP orbit_agent_heartbeats_sent_total");
    expect(await get("/healthz")).toMatchObject({ status: 200 });
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text)).toEqual({ status: false, message: "not ready: not connected to a manager" });
    m.connected();
    expect((await get("/readyz?verbose=1")).status).toBe(200);
    expect((await get("/other")).status).toBe(404);
    expect((await get("/metrics", "POST")).status).toBe(405);
    expect(await get("/healthz", "HEAD")).toMatchObject({ status: 200, text: "" });
  });

  it("a scrape that fails answers 500 with the reason", async () => {
    server = await startMetricsHttpServer({ host: "127.0.0.1", port: 0, setting: "metrics.listen", metrics: () => Promise.reject(new Error("collector broke")) });
    const r = await fetch(`${server.url}/metrics`);
    expect(r.status).toBe(500);
    expect(await r.text()).toContain("collector broke");
  });

  it("refuses to start on a port in use, naming the setting to change", async () => {
    server = await startMetricsHttpServer({ host: "127.0.0.1", port: 0, setting: "metrics.listen", metrics: async () => ({ contentType: "text/plain", body: "" }) });
    await expect(startMetricsHttpServer({ host: "127.0.0.1", port: server.port, setting: "metrics.listen", metrics: async () => ({ contentType: "text/plain", body: "" }) }))
      .rejects.toThrow(/^cannot listen on 127\.0\.0\.1:\d+ for metrics: EADDRINUSE; change metrics\.listen$/);
  });
});
