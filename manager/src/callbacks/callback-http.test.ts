import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpCallbackPoster, RefusedAddressError } from "./callback-http.js";

let server: Server;
let port: number;
const received: { headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => { body += c.toString("utf8"); });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      if (req.url === "/slow") return; // never answers
      if (req.url === "/moved") { res.writeHead(302, { location: "http://169.254.169.254/" }).end(); return; }
      res.writeHead(req.url === "/fail" ? 500 : 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const lax = httpCallbackPoster(() => ({ allowPrivateAddresses: true }), "orbit-test");
const strict = httpCallbackPoster(() => ({ allowPrivateAddresses: false }), "orbit-test");

describe("the callback poster", () => {
  it("POSTs the body with its headers and answers the status code", async () => {
    const r = await lax({ url: `http://127.0.0.1:${port}/ok`, body: "{\"a\":1}", headers: { "x-orbit-event-id": "e1" }, timeoutMs: 2000 });
    expect(r.statusCode).toBe(204);
    const last = received.at(-1)!;
    expect(last.body).toBe("{\"a\":1}");
    expect(last.headers).toMatchObject({ "content-type": "application/json", "x-orbit-event-id": "e1", "user-agent": "orbit-test" });
    expect((await lax({ url: `http://localhost:${port}/fail`, body: "{}", headers: {}, timeoutMs: 2000 })).statusCode).toBe(500);
  });

  it("does not follow redirects", async () => {
    expect((await lax({ url: `http://127.0.0.1:${port}/moved`, body: "{}", headers: {}, timeoutMs: 2000 })).statusCode).toBe(302);
  });

  it("gives up after the timeout", async () => {
    const t0 = Date.now();
    await expect(lax({ url: `http://127.0.0.1:${port}/slow`, body: "{}", headers: {}, timeoutMs: 300 })).rejects.toThrow(/no answer within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("refuses forbidden addresses, literal or resolved, without connecting", async () => {
    const before = received.length;
    await expect(strict({ url: `http://127.0.0.1:${port}/ok`, body: "{}", headers: {}, timeoutMs: 2000 })).rejects.toBeInstanceOf(RefusedAddressError);
    await expect(strict({ url: `http://localhost:${port}/ok`, body: "{}", headers: {}, timeoutMs: 2000 })).rejects.toThrow(/refused to connect to localhost/);
    await expect(lax({ url: "http://169.254.169.254/latest", body: "{}", headers: {}, timeoutMs: 2000 })).rejects.toThrow(/link-local/);
    expect(received.length).toBe(before);
  });
});
