// Request and response schemas of the console log pair: POST .../logs asks, GET .../logs fetches.
import { Type } from "@sinclair/typebox";
import { Id, ok } from "../schemas.js";
import { MAX_CONSOLE_LOG_LINES } from "../../monitoring/vm-console-logs.js";

export const RequestLogsBody = Type.Object({
  length: Type.Optional(Type.Integer({
    minimum: 1, maximum: MAX_CONSOLE_LOG_LINES,
    description: `How many of the last lines to fetch (default: as many as fit 64 KiB; at most ${MAX_CONSOLE_LOG_LINES})`,
  })),
}, { additionalProperties: false });

export const RequestLogsResponse = ok({ request_id: Type.Integer({ description: "Give it to GET .../logs?request_id=" }) });

export const FetchLogsQuery = Type.Object({ request_id: Id("What POST .../logs answered") }, { additionalProperties: false });

export const FetchLogsResponse = ok({
  logs: Type.String({ description: "The tail of the VM's serial console output (\"\" while pending)" }),
  request_status: Type.Union([Type.Literal("pending"), Type.Literal("succeeded")], { description: "pending: the host has not answered yet; ask again" }),
  truncated: Type.Boolean({ description: "Older output was left out (64 KiB or the lines asked for)" }),
});
