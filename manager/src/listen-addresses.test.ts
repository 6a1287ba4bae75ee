import net from "node:net";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import Fastify from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { loadManagerConfig } from "./config.js";
import { assertListenAddressesFree, explainListenFailure, routeGrpcLogs } from "./listen-addresses.js";

let busy: net.Server;
let port: number;
beforeAll(async () => {
  busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  port = (busy.address() as net.AddressInfo).port;
  // grpc-js's own "E No address added ..." would land on the test's stderr.
  routeGrpcLogs(pino({ level: "silent" }));
});
afterAll(async () => { await new Promise((r) => busy.close(r)); });

function grpcBind(p: number): Promise<unknown> {
  const server = new grpc.Server();
  return new Promise((resolve) => {
    server.bindAsync(`127.0.0.1:${p}`, grpc.ServerCredentials.createInsecure(), (err) => {
      server.forceShutdown();
      resolve(err);
    });
  });
}

describe("assertListenAddressesFree", () => {
  it("passes free and OS-chosen ports, and names the variable of a busy one", async () => {
    await assertListenAddressesFree(loadManagerConfig({ ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0" }));
    const err = await assertListenAddressesFree(loadManagerConfig({ ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: String(port) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ field: "ORBIT_GRPC_PORT" });
    expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${port} for the agent gateway: address already in use (another Orbit, or another program, listens there); stop what listens there or choose another port with ORBIT_GRPC_PORT`);
  });

  it("checks a metrics listener of its own too (ORBIT_METRICS_ADDR), not the API port's", async () => {
    await assertListenAddressesFree(loadManagerConfig({ ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_METRICS_ADDR: "127.0.0.1:0" }));
    const err = await assertListenAddressesFree(loadManagerConfig({ ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_METRICS_ADDR: `127.0.0.1:${port}` })).catch((e: unknown) => e);
    expect(err).toMatchObject({ field: "ORBIT_METRICS_ADDR" });
    expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${port} for the metrics: address already in use`);
  });

  it("names the host variable for an address this machine does not have", async () => {
    const err = await assertListenAddressesFree(loadManagerConfig({ ORBIT_API_HOST: "192.0.2.1", ORBIT_API_PORT: "18999", ORBIT_GRPC_PORT: "0" })).catch((e: unknown) => e);
    expect(err).toMatchObject({ field: "ORBIT_API_HOST" });
    expect((err as Error).message).toContain("cannot listen on 192.0.2.1:18999 for the API: no such address on this machine");
  });
});

describe("explainListenFailure (a port taken after the check)", () => {
  const config = () => loadManagerConfig({ ORBIT_API_PORT: String(port), ORBIT_GRPC_PORT: String(port) });

  it("turns Fastify's listen error into the API's", async () => {
    const app = Fastify();
    const raw = await app.listen({ host: "127.0.0.1", port }).then(() => undefined, (e: unknown) => e);
    await app.close();
    expect(explainListenFailure(raw, config())).toMatchObject({ field: "ORBIT_API_PORT", message: expect.stringContaining(`127.0.0.1:${port} for the API: address already in use`) });
  });

  it("turns grpc-js's bind error into the agent gateway's", async () => {
    const raw = await grpcBind(port);
    expect(raw).toBeInstanceOf(Error);
    expect(explainListenFailure(raw, config())).toMatchObject({ field: "ORBIT_GRPC_PORT", message: expect.stringContaining("for the agent gateway: address already in use") });
  });

  it("leaves other errors as they are", () => {
    const other = new Error("disk full");
    expect(explainListenFailure(other, config())).toBe(other);
  });
});

describe("routeGrpcLogs", () => {
  it("sends grpc-js's own log lines to the log, except the bind failure reported by explainListenFailure", async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    routeGrpcLogs(pino({ level: "debug" }, sink));
    try {
      await grpcBind(port);
      grpc.experimental.log(grpc.logVerbosity.ERROR, "something grpc-js says");
    } finally {
      grpc.setLogger(console);
    }
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["something grpc-js says"]);
  });
});
