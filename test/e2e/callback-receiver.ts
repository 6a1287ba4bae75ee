// A local HTTP server that receives event callbacks, for the callback suites: it keeps every POST
// (path, headers, raw body, parsed JSON) and answers as the paths say:
//   /dead...  never answers;  /down...  503;  /flaky...  500 to each event's first POST, then 200;
//   anything else 200.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedCallback { path: string; headers: IncomingHttpHeaders; body: string; json: Record<string, any> }

export interface CallbackReceiver {
  /** http://127.0.0.1:PORT */
  base: string;
  received: ReceivedCallback[];
  /** The POSTs to this path, in order. */
  at(path: string): ReceivedCallback[];
  close(): Promise<void>;
}

export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const failedOnce = new Set<string>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => { body += c.toString("utf8"); });
    req.on("end", () => {
      const path = req.url ?? "";
      received.push({ path, headers: req.headers, body, json: JSON.parse(body) });
      if (path.startsWith("/dead")) return;
      if (path.startsWith("/down")) { res.writeHead(503).end("down"); return; }
      const eventId = String(req.headers["x-orbit-event-id"]);
      if (path.startsWith("/flaky") && !failedOnce.has(eventId)) {
        failedOnce.add(eventId);
        res.writeHead(500).end("try again");
        return;
      }
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    at: (path) => received.filter((r) => r.path === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
