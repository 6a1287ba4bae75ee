// GET /v1/console/{token}: the WebSocket open-console's URL points at. The token is the only
// credential (browsers cannot set headers on a WebSocket): it is checked before the upgrade, so
// an unknown, used or expired one is refused with 401 and no socket. Bytes relay both ways: here
// when this manager holds the VM's host stream (the token is consumed here), otherwise through the
// manager that holds it (console-forwarder.ts; that one consumes the token).
import type { FastifyInstance, FastifyRequest } from "fastify";
import { InvalidArgumentError, UnauthenticatedError } from "#shared/errors.js";
import { closeReason, FORWARDED_HEADER, forwardConsole } from "../console/console-forwarder.js";
import type { ConsoleRelay } from "../console/console-relay.js";
import type { ConsoleTarget, ConsoleTokens } from "../console/console-tokens.js";

/** Where a host's console is relayed: here, or the API base URL of the manager holding its stream. */
export type ConsoleLocator = (hostId: number) => Promise<{ here: true } | { here: false; apiUrl: string }>;

type Route = { local: ConsoleTarget } | { forwardTo: string };

const UNKNOWN = "the console URL is unknown, already used or expired: ask open-console for a new one";

export const consoleSocketRoutes = (tokens: Pick<ConsoleTokens, "consume" | "peek">, relay: ConsoleRelay, locate: ConsoleLocator) => async (app: FastifyInstance) => {
  const routes = new WeakMap<FastifyRequest, Route>();
  app.get<{ Params: { token: string } }>("/v1/console/:token", {
    websocket: true,
    schema: { hide: true },
    preValidation: async (req) => {
      // A plain GET (a link preview, a mistyped curl) must not use the token up.
      if (!req.ws) throw new InvalidArgumentError("upgrade", "this URL is a WebSocket: connect with a WebSocket client (Upgrade: websocket)");
      const forwarded = req.headers[FORWARDED_HEADER] !== undefined;
      if (!forwarded) {
        const seen = await tokens.peek(req.params.token);
        if (!seen) throw new UnauthenticatedError(UNKNOWN);
        const where = await locate(seen.hostId);
        if (!where.here) {
          const base = new URL(where.apiUrl);
          base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
          routes.set(req, { forwardTo: `${base.toString().replace(/\/$/, "")}/v1/console/${encodeURIComponent(req.params.token)}` });
          return;
        }
      }
      const target = await tokens.consume(req.params.token);
      if (!target) throw new UnauthenticatedError(UNKNOWN);
      routes.set(req, { local: target });
    },
  }, (socket, req) => {
    const route = routes.get(req)!;
    if ("forwardTo" in route) {
      forwardConsole(socket, route.forwardTo);
      return;
    }
    const sessionId = relay.open(route.local, {
      send: (data) => socket.send(data, { binary: true }),
      bufferedBytes: () => socket.bufferedAmount,
      close: (reason) => socket.close(1000, closeReason(reason)),
    });
    if (!sessionId) return;
    socket.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      relay.input(sessionId, buf);
    });
    socket.on("close", () => relay.clientGone(sessionId));
  });
};
