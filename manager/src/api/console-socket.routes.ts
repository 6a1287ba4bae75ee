// GET /v1/console/{token}: the WebSocket open-console's URL points at. The token is the only
// credential (browsers cannot set headers on a WebSocket): it is consumed before the upgrade, so
// an unknown, used or expired one is refused with 401 and no socket. Bytes relay both ways.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { InvalidArgumentError, UnauthenticatedError } from "#shared/errors.js";
import type { ConsoleRelay } from "../console/console-relay.js";
import type { ConsoleTarget, ConsoleTokens } from "../console/console-tokens.js";

/** WebSocket close reasons are at most 123 bytes. */
function closeReason(reason: string): string {
  const b = Buffer.from(reason);
  return b.length <= 123 ? reason : b.subarray(0, 120).toString("utf8").replace(/\uFFFD$/, "") + "...";
}

export const consoleSocketRoutes = (tokens: Pick<ConsoleTokens, "consume">, relay: ConsoleRelay) => async (app: FastifyInstance) => {
  const targets = new WeakMap<FastifyRequest, ConsoleTarget>();
  app.get<{ Params: { token: string } }>("/v1/console/:token", {
    websocket: true,
    schema: { hide: true },
    preValidation: async (req) => {
      // A plain GET (a link preview, a mistyped curl) must not use the token up.
      if (!req.ws) throw new InvalidArgumentError("upgrade", "this URL is a WebSocket: connect with a WebSocket client (Upgrade: websocket)");
      const target = tokens.consume(req.params.token);
      if (!target) throw new UnauthenticatedError("the console URL is unknown, already used or expired: ask open-console for a new one");
      targets.set(req, target);
    },
  }, (socket, req) => {
    const target = targets.get(req)!;
    const sessionId = relay.open(target, {
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
