// Observability end to end (issue #16): the manager's GET /metrics after a VM create carries the
// API, placement, job, heartbeat, command and connection series with sane values and bounded
// labels (route patterns; 404s under one label whatever their path); the agents' own listener
// answers /metrics, /healthz and /readyz (ready only while connected); request ids are answered;
// ORBIT_METRICS_ADDR moves /metrics to a listener of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMetricsHttpServer, type MetricsHttpServer } from "#shared/metrics-http-server.js";
import { AgentMetrics } from "../../agent/src/monitoring/agent-metrics.js";
import { jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

/** Series lines ("name{labels} value") of a scrape, without comments. */
function series(text: string): string[] {
  return text.split("\n").filter((l) => l && !l.startsWith("#"));
}

function value(text: string, name: string): number | undefined {
  const line = series(text).find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Sum of every series of a family whose labels include all of `labels` (`k="v"` each). */
function sum(text: string, name: string, ...labels: string[]): number {
  return series(text)
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

describe("manager and agent metrics on a test cloud", () => {
  let cloud: TestCloud;
  const agentMetrics = [new AgentMetrics({ processMetrics: false }), new AgentMetrics({ processMetrics: false })];
  let agentServer: MetricsHttpServer;
  let vmId: number;

  beforeAll(async () => {
    cloud = await startTestCloud({
      hosts: [
        { hostname: "obs-a", uuid: "7a000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 },
        { hostname: "obs-b", uuid: "7a000000-0000-4000-8000-000000000002", cpus: 16, memoryMib: 32768 },
      ],
      fleet: { metrics: (i) => agentMetrics[i] },
    });
    const m = agentMetrics[0]!;
    agentServer = await startMetricsHttpServer({
      host: "127.0.0.1", port: 0, setting: "metrics.listen", metrics: () => m.scrape(),
      ready: () => m.connectedToManager ? { ready: true } : { ready: false, reason: "not connected to a manager" },
    });
    await cloud.waitFor("hosts up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.every((h: { state: string }) => h.state === "Up"));
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "obs-vm", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
    expect(created.status).toBe(200);
    vmId = created.json.instances[0].id;
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`)).json.instance.status).toBe("ACTIVE");
  }, 120_000);
  afterAll(async () => {
    await agentServer?.close();
    await cloud?.stop();
  });

  it("serves Prometheus text at /metrics without a key, with the series of every part", async () => {
    // Unknown paths answer 404 and must not become a series each.
    for (const path of ["/v1/core/no-such-route-8731", "/v1/core/no-such-route-8732", "/zz-unknown/abc"]) {
      expect((await cloud.api("GET", path)).status).toBe(404);
    }
    // A request the allocator refuses (16 vCPUs, 64 GiB on hosts of 16 and 32 GiB running a VM): a rejection with its reasons.
    const refused = await cloud.api("POST", "/v1/core/virtual-machines", { name: "obs-big", flavor_name: "n1-cpu-large", image_name: "Debian 12" });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const r = await scrape(`${cloud.manager.apiUrl}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const t = r.text;

    // API latency: route patterns, method, status class; 404s under route="unmatched" only.
    expect(sum(t, "orbit_api_request_duration_seconds_count", 'method="GET"', 'route="/v1/core/virtual-machines/:id"', 'status_class="2xx"')).toBeGreaterThanOrEqual(1);
    expect(sum(t, "orbit_api_request_duration_seconds_count", 'method="POST"', 'route="/v1/core/virtual-machines"', 'status_class="2xx"')).toBe(1);
    expect(sum(t, "orbit_api_request_duration_seconds_count", 'route="unmatched"', 'status_class="4xx"')).toBe(3);
    expect(t).not.toContain("no-such-route");
    expect(t).not.toContain("zz-unknown");
    expect(t).not.toContain(`/virtual-machines/${vmId}`);
    const routes = new Set(series(t).filter((l) => l.startsWith("orbit_api_request_duration_seconds_count")).map((l) => /route="([^"]*)"/.exec(l)![1]!));
    for (const route of routes) expect(route === "unmatched" || route === "/metrics" || route.startsWith("/v1/")).toBe(true);

    // Placements: the create placed one VM; the refused one counts as rejected with its reason.
    expect(value(t, 'orbit_placements_total{outcome="placed"}')).toBe(1);
    expect(value(t, "orbit_placed_vms_total")).toBe(1);
    expect(refused.json.error_reason).toBe("insufficient_capacity");
    expect(value(t, 'orbit_placements_total{outcome="rejected"}')).toBe(1);
    expect(series(t).filter((l) => l.startsWith("orbit_placement_rejections_total{"))).toEqual([
      'orbit_placement_rejections_total{reason="cpu_capacity"} 1', 'orbit_placement_rejections_total{reason="memory_capacity"} 1',
    ]);
    expect(sum(t, "orbit_placement_duration_seconds_count", 'outcome="placed"')).toBe(1);

    // Jobs: the deploy succeeded, in a sane time (created → done).
    expect(value(t, 'orbit_job_duration_seconds_count{kind="vm.deploy",outcome="succeeded"}')).toBe(1);
    const deploySeconds = value(t, 'orbit_job_duration_seconds_sum{kind="vm.deploy",outcome="succeeded"}')!;
    expect(deploySeconds).toBeGreaterThan(0);
    expect(deploySeconds).toBeLessThan(60);
    expect(sum(t, "orbit_job_failures_total")).toBe(0);

    // Heartbeats: lag histogram overall, last lag per connected host (same clock here: small).
    expect(value(t, "orbit_heartbeat_lag_seconds_count")).toBeGreaterThanOrEqual(2);
    const hostLags = series(t).filter((l) => l.startsWith("orbit_heartbeat_last_lag_seconds{"));
    expect(hostLags).toHaveLength(2);
    for (const l of hostLags) {
      const lag = Number(l.slice(l.lastIndexOf(" ") + 1));
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(5);
    }

    // Agent commands dispatched by the manager, by kind, answered ok.
    expect(sum(t, "orbit_agent_command_duration_seconds_count", 'outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(value(t, "orbit_connected_agents")).toBe(2);
    // Process default metrics.
    expect(value(t, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(t).toContain("nodejs_eventloop_lag_seconds");
  });

  it("answers X-Request-Id: the caller's when well-formed, else a new UUID", async () => {
    const mine = await cloud.api("GET", "/v1/core/flavors", undefined, undefined, { "x-request-id": "lb-7f3a.42" });
    expect(mine.headers.get("x-request-id")).toBe("lb-7f3a.42");
    const bad = await cloud.api("GET", "/v1/core/flavors", undefined, undefined, { "x-request-id": "has spaces and {json}" });
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    const none = await cloud.api("GET", "/healthz");
    expect(none.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it("agent metrics: commands, heartbeats, health and readiness; a stopped agent's host series goes", async () => {
    const all = await Promise.all(agentMetrics.map(async (m) => (await m.scrape()).body));
    expect(all.reduce((a, t) => a + sum(t, "orbit_agent_command_duration_seconds_count", 'outcome="ok"'), 0)).toBeGreaterThanOrEqual(1);
    for (const t of all) {
      expect(value(t, "orbit_agent_heartbeats_sent_total")).toBeGreaterThanOrEqual(1);
      expect(value(t, "orbit_agent_manager_connected")).toBe(1);
      expect(value(t, "orbit_agent_reconnects_total")).toBe(0);
    }
    const served = await scrape(`${agentServer.url}/metrics`);
    expect(served.status).toBe(200);
    expect(served.text).toContain("orbit_agent_heartbeats_sent_total");
    expect((await scrape(`${agentServer.url}/healthz`)).status).toBe(200);
    expect((await scrape(`${agentServer.url}/readyz`)).status).toBe(200);
    expect((await scrape(`${agentServer.url}/nope`)).status).toBe(404);

    await cloud.fleet.stopAgent(0);
    await cloud.waitFor("agent 0 not ready", async () => (await scrape(`${agentServer.url}/readyz`)).status === 503);
    const notReady = await scrape(`${agentServer.url}/readyz`);
    expect(JSON.parse(notReady.text).message).toContain("not connected to a manager");
    expect((await scrape(`${agentServer.url}/healthz`)).status).toBe(200);
    // The connected count drops when the stream closes; the host's series goes once the heartbeats
    // it had queued are handled (onDisconnected runs after them), so wait for both.
    const lastLag = (t: string) => series(t).filter((l) => l.startsWith("orbit_heartbeat_last_lag_seconds{"));
    const m = await cloud.waitFor("manager sees one agent and one last-lag series", async () => {
      const t = (await scrape(`${cloud.manager.apiUrl}/metrics`)).text;
      return value(t, "orbit_connected_agents") === 1 && lastLag(t).length === 1 ? t : undefined;
    });
    // Only the connected host keeps its last-lag series.
    expect(lastLag(m)).toHaveLength(1);

    await cloud.fleet.startAgent(0);
    await cloud.waitFor("agent 0 ready", async () => (await scrape(`${agentServer.url}/readyz`)).status === 200);
    expect(value((await agentMetrics[0]!.scrape()).body, "orbit_agent_reconnects_total")).toBe(1);
  }, 60_000);
});

describe("ORBIT_METRICS_ADDR", () => {
  let cloud: TestCloud;
  beforeAll(async () => {
    cloud = await startTestCloud({ hosts: [], env: { ORBIT_METRICS_ADDR: "127.0.0.1:0" } });
  }, 60_000);
  afterAll(async () => { await cloud?.stop(); });

  it("host:port moves /metrics to a listener of its own, with /healthz and /readyz; the API port has none", async () => {
    expect((await fetch(`${cloud.manager.apiUrl}/metrics`)).status).toBe(404);
    const url = cloud.manager.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await scrape(`${url}/metrics`);
    expect(r.status).toBe(200);
    expect(value(r.text, "orbit_connected_agents")).toBe(0);
    expect((await scrape(`${url}/healthz`)).status).toBe(200);
    expect((await scrape(`${url}/readyz`)).status).toBe(200);
  });
});
