// OrbitError → HTTP status and Hyperstack's error body, chosen here at the edge only.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { type DatabaseUnavailableError, OrbitError, databaseUnavailableFrom, type ErrorCode } from "#shared/errors.js";

const HTTP: Record<ErrorCode, { status: number; reason: string }> = {
  invalid_argument: { status: 400, reason: "bad_request" },
  not_found: { status: 404, reason: "not_found" },
  already_exists: { status: 409, reason: "already_exist" },
  conflict: { status: 409, reason: "conflict" },
  insufficient_capacity: { status: 409, reason: "insufficient_capacity" },
  unauthenticated: { status: 401, reason: "unauthorized" },
  forbidden: { status: 403, reason: "forbidden" },
  agent_unavailable: { status: 503, reason: "server_error" },
  hypervisor_error: { status: 502, reason: "server_error" },
  deadline_exceeded: { status: 504, reason: "server_error" },
  unsupported: { status: 400, reason: "bad_request" },
  database_unavailable: { status: 503, reason: "database_unavailable" },
  internal: { status: 500, reason: "server_error" },
};

interface AjvIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** Names the field an ajv validation issue is about, e.g. "name" or "labels[0]". */
export function fieldOf(issue: AjvIssue): string {
  const path = (issue.instancePath ?? "").replace(/^\//, "").replace(/\/(\d+)/g, "[$1]").replace(/\//g, ".");
  const extra = (issue.params?.missingProperty ?? issue.params?.additionalProperty) as string | undefined;
  return [path, extra].filter(Boolean).join(".") || "body";
}

export function validationMessage(issue: AjvIssue, context: string | undefined): { field: string; message: string } {
  const field = fieldOf(issue);
  const where = context === "querystring" ? "query parameter" : context === "params" ? "path parameter" : "field";
  switch (issue.keyword) {
    case "required": return { field, message: `${where} '${field}' is required` };
    case "additionalProperties": return { field, message: `unknown ${where} '${field}'` };
    case "maxLength": return { field, message: `${where} '${field}' must be at most ${issue.params?.limit} characters` };
    case "minLength": return { field, message: `${where} '${field}' must be at least ${issue.params?.limit} characters` };
    default: return { field, message: `${where} '${field}' ${issue.message ?? "is invalid"}` };
  }
}

/**
 * Told about every request that failed because the database did not answer; returns true when
 * it logs outages itself (then the request logs no stack of its own).
 */
export type DatabaseUnavailableListener = (e: DatabaseUnavailableError) => boolean;

export function errorHandler(
  error: FastifyError & { validation?: AjvIssue[]; validationContext?: string }, req: FastifyRequest, reply: FastifyReply,
  onDatabaseUnavailable?: DatabaseUnavailableListener,
): void {
  const unavailable = databaseUnavailableFrom(error);
  if (unavailable) {
    // One line per outage comes from the listener; here only a short debug line per request.
    if (onDatabaseUnavailable?.(unavailable)) req.log.debug({ reason: unavailable.details.reason }, "request refused: database unavailable");
    else req.log.error({ err: unavailable }, "request failed: database unavailable");
    void reply.status(503).header("retry-after", String(unavailable.retryAfterSeconds)).send({
      status: false, message: unavailable.message, error_reason: HTTP.database_unavailable.reason, code: unavailable.code,
    });
    return;
  }
  if (error.validation?.length) {
    const { field, message } = validationMessage(error.validation[0]!, error.validationContext);
    void reply.status(400).send({ status: false, message, error_reason: "bad_request", field });
    return;
  }
  if (error instanceof OrbitError) {
    const m = HTTP[error.code];
    const body: Record<string, unknown> = { status: false, message: error.message, error_reason: m.reason, code: error.code };
    if (typeof error.details.field === "string") body.field = error.details.field;
    if (error.code === "insufficient_capacity") {
      body.rejections = error.details.rejections;
      body.unschedulable = error.details.unschedulable;
    }
    if (error.code === "conflict" && error.details.state) body.state = error.details.state;
    if (m.status >= 500) req.log.error({ err: error }, "request failed");
    void reply.status(m.status).send(body);
    return;
  }
  // Fastify's own client errors: malformed JSON, wrong content type, body too large...
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    const message = error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "request body is empty" : error.message;
    void reply.status(error.statusCode).send({ status: false, message, error_reason: error.statusCode === 404 ? "not_found" : "bad_request" });
    return;
  }
  req.log.error({ err: error }, "unhandled error");
  void reply.status(500).send({ status: false, message: `internal error (request ${req.id})`, error_reason: "server_error", request_id: req.id });
}
