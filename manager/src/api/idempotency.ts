// Idempotency-Key on POSTs (Stripe's scheme): the first request with a key runs and its 2xx answer
// is recorded; a retry with the same key and the same request (method, route, path parameters,
// body) gets that answer again (status and body) without running; the same key with another
// request is refused (422). Errors are not recorded (a refused request changed nothing, so a retry
// may run again). The key's row is inserted before the work starts and is unique per account, so
// concurrent duplicates cannot both run: the later one waits for the first answer. This file is the
// HTTP side; the record is idempotency/idempotency-store.ts.
import { createHash } from "node:crypto";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ConflictError, InvalidArgumentError } from "#shared/errors.js";
import type { IdempotencyStore } from "../idempotency/idempotency-store.js";
import { errorBody } from "./errors.js";

export const IDEMPOTENCY_HEADER = "idempotency-key";
const KEY_PATTERN = /^[\x21-\x7E]{1,255}$/;

declare module "fastify" {
  interface FastifyRequest {
    /** The idempotency row this request owns (it runs the work and records the answer). */
    idempotencyRecord: number | null;
  }
  interface FastifyContextConfig {
    /** false: the answer holds a secret shown once, which must not be stored: the header is refused. */
    idempotency?: boolean;
  }
}

/** JSON with object keys sorted: two bodies that differ only in key order are the same request. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

export function requestFingerprint(method: string, route: string, params: unknown, body: unknown): string {
  return createHash("sha256").update(canonicalJson([method, route, params ?? {}, body ?? null])).digest("hex");
}

/** Adds Idempotency-Key handling to every POST route of `app` (after validation and auth). */
export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.decorateRequest("idempotencyRecord", null);
  // Documents the header on every POST (OpenAPI); the preHandler below checks it.
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes("POST") || !route.schema || route.schema.headers || route.config?.idempotency === false) return;
    route.schema = {
      ...route.schema,
      headers: Type.Object({
        [IDEMPOTENCY_HEADER]: Type.Optional(Type.String({
          description: "Retries with the same key and request get the first answer again instead of running twice (README, Idempotency)",
        })),
      }, { additionalProperties: true }),
    };
  });
  app.addHook("preHandler", async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== "POST") return;
    const key = req.headers[IDEMPOTENCY_HEADER];
    if (key === undefined) return;
    if (req.routeOptions.config.idempotency === false) {
      throw new InvalidArgumentError("Idempotency-Key", "header 'Idempotency-Key' is not accepted here: the answer holds a secret shown once, which Orbit does not store");
    }
    if (typeof key !== "string" || !KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError("Idempotency-Key", "header 'Idempotency-Key' must be 1-255 visible ASCII characters (a UUID is a good choice), sent once");
    }
    // The role is part of the request: an admin's answer shows more than a user may see.
    const fingerprint = requestFingerprint(`${req.principal.role} ${req.method}`, req.routeOptions.url ?? req.url, req.params, req.body);
    const outcome = await store.begin(req.principal.accountId, key, fingerprint);
    switch (outcome.kind) {
      case "run":
        req.idempotencyRecord = outcome.id;
        return;
      case "replay":
        return reply.status(outcome.status).header("content-type", "application/json; charset=utf-8")
          .header("idempotent-replayed", "true").send(outcome.body);
      case "mismatch":
        return reply.status(422).send(errorBody(422, req, {
          message: "Idempotency-Key was already used with a different request (method, path or body): use a new key for a new request",
          reason: "unprocessable_entity", code: "idempotency_key_reused", field: "Idempotency-Key",
        }));
      case "in_progress":
        throw new ConflictError(outcome.stale
          ? "the first request with this Idempotency-Key never answered (the manager may have restarted): check whether it took effect, then use a new key"
          : "a request with this Idempotency-Key is still being processed: retry later", "in_progress");
    }
  });
  app.addHook("onSend", async (req, reply, payload) => {
    const id = req.idempotencyRecord;
    if (id == null) return payload;
    req.idempotencyRecord = null;
    try {
      if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === "string") await store.complete(id, reply.statusCode, payload);
      else await store.abandon(id);
    } catch (err) {
      // The answer still goes out; the key stays claimed until it expires (retries get a 409).
      req.log.error({ err, idempotencyRecord: id }, "could not record the answer of an idempotent request");
    }
    return payload;
  });
}
