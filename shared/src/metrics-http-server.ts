// A small HTTP listener for Prometheus and probes, apart from any API: GET /metrics, /healthz
// (the process answers) and /readyz (ready() says so). The manager uses it when
// ORBIT_METRICS_ADDR names its own address; the agent when agent.yaml sets metrics.listen.
import { createServer, type Server } from "node:http";
import { InvalidArgumentError } from "./errors.js";

export interface MetricsHttpServerOptions {
  host: string;
  port: number;
  /** The setting that chose the address, named when it cannot be bound ("ORBIT_METRICS_ADDR", "metrics.listen"). */
  setting: string;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** Readiness and why not; without it /readyz answers as /healthz. */
  ready?: () => Readiness | Promise<Readiness>;
}

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface MetricsHttpServer {
  /** The address it listens on (the port the OS chose for port 0). */
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** "host:port" or "[ipv6]:port" (port 0..65535); undefined when it is not one. */
export function parseListenAddress(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port <= 65535 ? { host: (m[1] ?? m[2])!, port } : undefined;
}

function json(status: number, body: unknown): { status: number; type: string; body: string } {
  return { status, type: "application/json; charset=utf-8", body: JSON.stringify(body) };
}

export async function startMetricsHttpServer(o: MetricsHttpServerOptions): Promise<MetricsHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const answer = async (): Promise<{ status: number; type: string; body: string }> => {
      if (req.method !== "GET" && req.method !== "HEAD") return json(405, { status: false, message: "only GET is served here" });
      if (path === "/metrics") {
        const m = await o.metrics();
        return { status: 200, type: m.contentType, body: m.body };
      }
      if (path === "/healthz") return json(200, { status: true, message: "ok" });
      if (path === "/readyz") {
        const r = o.ready ? await o.ready() : { ready: true };
        return r.ready ? json(200, { status: true, message: "ready" }) : json(503, { status: false, message: `not ready: ${r.reason ?? "unknown"}` });
      }
      return json(404, { status: false, message: `no such path: ${path} (served: /metrics, /healthz, /readyz)` });
    };
    answer().then(
      (a) => { res.writeHead(a.status, { "content-type": a.type }).end(req.method === "HEAD" ? undefined : a.body); },
      (e: unknown) => { res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(e as Error).message}`); },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => {
      reject(new InvalidArgumentError(o.setting, `cannot listen on ${o.host}:${o.port} for metrics: ${e.code ?? e.message}; change ${o.setting}`));
    };
    server.once("error", failed);
    server.listen(o.port, o.host, () => { server.off("error", failed); resolve(); });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  const hostInUrl = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    host: o.host, port, url: `http://${hostInUrl}:${port}`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
