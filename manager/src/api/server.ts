// The HTTP API: Fastify with TypeBox schemas (validated requests, an OpenAPI document at
// /openapi.json and readable docs at /docs), API-key auth, Hyperstack-style bodies.
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Logger } from "pino";
import { ForbiddenError, type DatabaseUnavailableError } from "#shared/errors.js";
import type { ApiKeyService, Principal } from "../auth/api-key-service.js";
import { errorHandler, notFoundHandler, type DatabaseUnavailableListener } from "./errors.js";
import type { IdempotencyStore } from "../idempotency/idempotency-store.js";
import { registerIdempotency } from "./idempotency.js";
import { attachExamples } from "./openapi-examples.js";
import { buildValidatorCompiler } from "./validation.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface ApiServerOptions {
  log: Logger;
  apiKeys: ApiKeyService;
  version: string;
  routes: (app: FastifyInstance) => Promise<void>;
  /** Routes that authenticate by themselves, outside the API-key scope (the console's WebSocket, whose URL holds a one-time token). */
  publicRoutes?: (app: FastifyInstance) => Promise<void>;
  /** Records answers to POSTs sent with an Idempotency-Key (none: the header is ignored). */
  idempotency?: IdempotencyStore;
  /** Readiness (/readyz) and the one-line-per-outage log; without it /readyz always answers 200. */
  databaseHealth?: { check(): Promise<boolean>; unavailable(e: DatabaseUnavailableError): void };
  /** Told about every answered request (monitoring/manager-metrics.ts); its route is the matched pattern, never the raw URL. */
  requestObserver?: { observeRequest(method: string, routePattern: string | undefined, status: number, seconds: number): void };
  /** Serves GET /metrics (Prometheus text) on this server, without a key; none: not here (ORBIT_METRICS_ADDR). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

/** A request id a load balancer or client may pass in X-Request-Id (anything else gets a new one). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export async function buildApiServer(o: ApiServerOptions): Promise<FastifyInstance> {
  const health = o.databaseHealth;
  // Outages are logged once by the database's health (db/database-health.ts), not once per refused request.
  const onDatabaseUnavailable: DatabaseUnavailableListener | undefined = health && ((e) => { health.unavailable(e); return true; });
  const app = Fastify({
    loggerInstance: o.log.child({ component: "api" }),
    bodyLimit: 1024 * 1024,
    // Every log line of a request carries reqId: one id across managers (not Fastify's per-process
    // counter), the caller's own when it sent one, answered in X-Request-Id and in 5xx bodies.
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Errors raised before routing (a URL that is not valid UTF-8...) get the same body as all others.
    frameworkErrors: (error, req, reply) => errorHandler(error, req, reply, onDatabaseUnavailable),
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Unknown fields are an error (not silently dropped); bodies are never coerced (validation.ts).
  app.setValidatorCompiler(buildValidatorCompiler());

  app.decorateRequest("principal", null as unknown as Principal);
  // Clients that always send Content-Type: application/json send it on DELETE too, with no body.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") { done(null, undefined); return; }
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(Object.assign(new Error(`malformed JSON body: ${(e as Error).message}`), { statusCode: 400, field: "body" }), undefined);
    }
  });
  // axios (Hyperstack's SDK) labels a POST without a body (attach-floatingip...) form-urlencoded:
  // an empty one is no body; a form with content is still refused (415), as before.
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") { done(null, undefined); return; }
    done(Object.assign(new Error("form-encoded bodies are not accepted: send JSON (Content-Type: application/json)"), { statusCode: 415 }), undefined);
  });
  app.setErrorHandler((error: Parameters<typeof errorHandler>[0], req, reply) => errorHandler(error, req, reply, onDatabaseUnavailable));
  app.setNotFoundHandler(notFoundHandler);
  app.addHook("onRequest", async (req, reply) => { reply.header("x-request-id", req.id); });
  const observer = o.requestObserver;
  if (observer) {
    app.addHook("onResponse", async (req, reply) => {
      observer.observeRequest(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Orbit API",
        version: o.version,
        description: "Orbit: GPU virtual machines on KVM. User API under /v1/core (Hyperstack-compatible), admin API under /v1/admin.",
      },
      components: {
        securitySchemes: {
          api_key: { type: "apiKey", in: "header", name: "api_key" },
          bearer: { type: "http", scheme: "bearer" },
        },
      },
      security: [{ api_key: [] }, { bearer: [] }],
    },
    // Examples live beside each dialect (openapi-examples.ts), not in the route schemas.
    transformObject: (d) => ("openapiObject" in d ? attachExamples(d.openapiObject) : d.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  // WebSocket routes (the console); one message is at most 64 KiB of typed input.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  // Liveness: the process runs and serves HTTP (restart it when this fails).
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: true, message: "ok" }));
  // Readiness: the manager can serve requests now, i.e. its database answers (send no traffic
  // while this is 503; do not restart for it).
  app.get("/readyz", { schema: { hide: true } }, async (_req, reply) => {
    if (!health || await health.check()) return { status: true, message: "ready", database: "ok" };
    return reply.status(503).header("retry-after", "5").send({
      status: false, message: "not ready: the database does not answer", error_reason: "database_unavailable",
      code: "database_unavailable", database: "unavailable",
    });
  });
  const metrics = o.metrics;
  if (metrics) {
    // Prometheus scrapes without a key (as /healthz): the metrics hold counts and route patterns only.
    app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
      const m = await metrics();
      return reply.header("content-type", m.contentType).send(m.body);
    });
  }
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  if (o.publicRoutes) await app.register(o.publicRoutes);
  // Every route registered in this scope needs a key; the decision uses the route that matched
  // (never the raw URL, which may be percent-encoded differently from what the router decodes).
  await app.register(async (scoped) => {
    scoped.addHook("onRequest", async (req) => {
      const header = req.headers["api_key"] ?? req.headers["api-key"];
      const auth = req.headers.authorization;
      const key = typeof header === "string" ? header : auth?.startsWith("Bearer ") ? auth.slice(7).trim() : undefined;
      req.principal = await o.apiKeys.authenticate(key);
      const route = req.routeOptions.url ?? "";
      const userRoute = route.startsWith("/v1/core/") || route === "/v1/api-key" || route.startsWith("/v1/api-key/") || route === "/v1/auth/me";
      if (!userRoute && req.principal.role !== "admin") throw new ForbiddenError("admin API requires an admin key");
    });
    if (o.idempotency) registerIdempotency(scoped, o.idempotency);
    await o.routes(scoped);
  });
  return app as unknown as FastifyInstance;
}
