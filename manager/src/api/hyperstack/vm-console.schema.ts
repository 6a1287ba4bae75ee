// Responses of open-console and close-console (CloudSigma's names, an Orbit extra under /v1/core).
import { Type } from "@sinclair/typebox";
import { ok } from "../schemas.js";

export const OpenConsoleResponse = ok({
  console: Type.Object({
    url: Type.String({ description: "ws:// or wss:// URL of the console; usable once, before expires_at" }),
    expires_at: Type.String({ format: "date-time", description: "After this the URL is refused" }),
  }, { additionalProperties: false }),
});

export const CloseConsoleResponse = ok({
  closed_sessions: Type.Integer({ minimum: 0, description: "Console connections that were ended" }),
});
