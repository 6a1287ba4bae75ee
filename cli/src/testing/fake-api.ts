// A fake Orbit API for the CLI's tests: node:http on port 0, answers from a route table, records
// every request it got.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import type { Io } from "../context.js";
import { run } from "../program.js";

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface FakeAnswer {
  status?: number;
  body?: unknown;
  /** Sent as is instead of JSON. */
  raw?: string;
}

/** "GET /v1/core/flavors" → an answer, or a function of the request (called once per request). */
export type Routes = Record<string, FakeAnswer | ((req: RecordedRequest) => FakeAnswer)>;

export interface FakeApi {
  url: string;
  requests: RecordedRequest[];
  routes: Routes;
  close(): Promise<void>;
}

export async function startFakeApi(routes: Routes = {}): Promise<FakeApi> {
  const requests: RecordedRequest[] = [];
  const api: FakeApi = { url: "", requests, routes, close: async () => {} };
  const server: Server = createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => { data += c.toString("utf8"); });
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://fake");
      const rec: RecordedRequest = { method: req.method ?? "GET", path: u.pathname, query: u.searchParams, headers: req.headers, body: data ? JSON.parse(data) : undefined };
      requests.push(rec);
      const route = api.routes[`${rec.method} ${rec.path}`];
      const answer = typeof route === "function" ? route(rec)
        : route ?? { status: 404, body: { status: false, message: `no route ${rec.method} ${rec.path}`, error_reason: "not_found", code: "not_found" } };
      res.writeHead(answer.status ?? 200, { "content-type": answer.raw !== undefined ? "text/html" : "application/json" });
      res.end(answer.raw ?? JSON.stringify(answer.body ?? { status: true, message: "ok" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () => new Promise<void>((r) => server.close(() => r()));
  return api;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with the given environment (HOME and XDG_CONFIG_HOME included). */
export async function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const err = new PassThrough();
  err.on("data", (c: Buffer) => { stderr += c.toString("utf8"); });
  const io: Io = { stdout: { write: (s: string) => { stdout += s; } }, stderr: err, env, pollIntervalMs: 20 };
  const code = await run(args, io);
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}
