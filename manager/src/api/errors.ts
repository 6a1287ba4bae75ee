// OrbitError → HTTP status and Hyperstack's error body, chosen here at the edge only. Every error
// body has one shape (README, Errors): status:false, message, error_reason and code always; field
// when the error is about one request field; request_id on 5xx. `errorBody` builds all of them.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AccountLimitError, type DatabaseUnavailableError, OrbitError, databaseUnavailableFrom, type ErrorCode, transactionConflictFrom } from "#shared/errors.js";
import { PATTERN_MEANINGS } from "./schemas.js";
import { capacityRejectionView, capacitySummaryView } from "./placement.presenter.js";

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

/** Codes of errors raised by the HTTP layer itself (not by a service's OrbitError). */
export type HttpErrorCode = ErrorCode | "payload_too_large" | "unsupported_media_type" | "idempotency_key_reused";

export interface ErrorBodyInput {
  message: string;
  reason: string;
  code: HttpErrorCode;
  field?: string | undefined;
  /** Error-specific fields (a 409's state or capacity summary...). */
  extra?: Record<string, unknown>;
}

/** The one error body: `request_id` is added on 5xx so a report can be matched with the log. */
export function errorBody(status: number, req: FastifyRequest, e: ErrorBodyInput): Record<string, unknown> {
  return {
    status: false, message: e.message, error_reason: e.reason, code: e.code,
    ...(e.field !== undefined ? { field: e.field } : {}),
    ...(status >= 500 ? { request_id: String(req.id) } : {}),
    ...e.extra,
  };
}

interface AjvIssue {
  instancePath?: string;
  schemaPath?: string;
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

/** What one issue asks of the value, e.g. "must be integer". */
function requirement(issue: AjvIssue): string {
  if (issue.keyword === "pattern") return PATTERN_MEANINGS[String(issue.params?.pattern)] ?? issue.message ?? "is invalid";
  return issue.message ?? "is invalid";
}

/** The message for a failed validation: ajv lists an anyOf's branches first, then the anyOf itself. */
export function validationMessage(issues: readonly AjvIssue[], context: string | undefined): { field: string; message: string } {
  const where = context === "querystring" ? "query parameter" : context === "params" ? "path parameter" : "field";
  const anyOf = issues.find((i) => i.keyword === "anyOf");
  if (anyOf) {
    // A value of one of several forms (an id or a uuid): say what each form asks.
    const field = fieldOf(anyOf);
    const branches = issues.filter((i) => i !== anyOf && i.instancePath === anyOf.instancePath && i.schemaPath?.startsWith(`${anyOf.schemaPath}/`));
    // A choice among fixed values (a union of literals): list them rather than "equal to constant" n times.
    if (branches.length && branches.every((b) => b.keyword === "const")) {
      const values = branches.map((b) => JSON.stringify(b.params?.allowedValue));
      return { field, message: `${where} '${field}' must be one of ${values.join(", ")}` };
    }
    return { field, message: `${where} '${field}' ${branches.length ? branches.map(requirement).join(", or ") : "is invalid"}` };
  }
  const issue = issues[0]!;
  const field = fieldOf(issue);
  switch (issue.keyword) {
    case "required": return { field, message: `${where} '${field}' is required` };
    case "additionalProperties": return { field, message: `unknown ${where} '${field}'` };
    case "maxLength": return { field, message: `${where} '${field}' must be at most ${issue.params?.limit} characters` };
    case "minLength": return { field, message: `${where} '${field}' must be at least ${issue.params?.limit} characters` };
    default: return { field, message: `${where} '${field}' ${requirement(issue)}` };
  }
}

/** Fastify's own client errors (FST_ERR_*) by status: the codes they answer with. */
const CLIENT_ERRORS: Record<number, { reason: string; code: HttpErrorCode }> = {
  404: { reason: "not_found", code: "not_found" },
  413: { reason: "payload_too_large", code: "payload_too_large" },
  415: { reason: "unsupported_media_type", code: "unsupported_media_type" },
};

function orbitErrorBody(error: OrbitError, req: FastifyRequest, status: number): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  if (error.code === "insufficient_capacity") {
    extra.unschedulable = error.details.unschedulable;
    const rejections = (error.details.rejections ?? []) as Parameters<typeof capacityRejectionView>[0][];
    // Host names, ids and free capacity are the operator's business: users get counts per reason.
    extra.summary = capacitySummaryView(rejections);
    if (req.principal?.role === "admin") extra.rejections = rejections.map(capacityRejectionView);
  }
  if (error.code === "conflict" && error.details.state) extra.state = error.details.state;
  // Which of an action's rules refused it (e.g. a live resize's), for clients that act on it.
  if (error.code === "conflict" && typeof error.details.rule === "string") extra.rule = error.details.rule;
  // A refusal's stable reason code (e.g. a migration's: migration/migration-rules.ts), and all of them when several.
  if (error.code === "conflict" && typeof error.details.reason === "string") {
    extra.reason = error.details.reason;
    if (Array.isArray(error.details.reasons)) extra.reasons = error.details.reasons;
  }
  if (error instanceof AccountLimitError) extra.limit = error.breach;
  const field = typeof error.details.field === "string" ? error.details.field : undefined;
  return errorBody(status, req, { message: error.message, reason: HTTP[error.code].reason, code: error.code, field, extra });
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
    void reply.status(503).header("retry-after", String(unavailable.retryAfterSeconds))
      .send(errorBody(503, req, { message: unavailable.message, reason: HTTP.database_unavailable.reason, code: unavailable.code }));
    return;
  }
  if (error.validation?.length) {
    const { field, message } = validationMessage(error.validation, error.validationContext);
    void reply.status(400).send(errorBody(400, req, { message, reason: "bad_request", code: "invalid_argument", field }));
    return;
  }
  const conflict = transactionConflictFrom(error);
  if (conflict) {
    req.log.warn({ err: error }, "request's transaction crossed another; the client is told to retry");
    void reply.status(409).header("retry-after", "1").send(orbitErrorBody(conflict, req, 409));
    return;
  }
  if (error instanceof OrbitError) {
    const status = HTTP[error.code].status;
    if (status >= 500) req.log.error({ err: error }, "request failed");
    void reply.status(status).send(orbitErrorBody(error, req, status));
    return;
  }
  // Fastify's own client errors: malformed JSON, wrong content type, body too large...
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    const message = error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "request body is empty" : error.message;
    const known = CLIENT_ERRORS[error.statusCode] ?? { reason: "bad_request", code: "invalid_argument" };
    // Parser errors (FST_ERR_CTP_*, malformed JSON) are about the body, a bad percent-encoding about the URL.
    const field = error.code?.startsWith("FST_ERR_CTP") || (error as { field?: string }).field === "body" ? "body"
      : error.code === "FST_ERR_BAD_URL" ? "url" : undefined;
    void reply.status(error.statusCode).send(errorBody(error.statusCode, req, { message, ...known, field }));
    return;
  }
  req.log.error({ err: error }, "unhandled error");
  void reply.status(500).send(errorBody(500, req, { message: `internal error (request ${req.id})`, reason: "server_error", code: "internal" }));
}

/** No route matched: the same body as any other 404. */
export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send(errorBody(404, req, { message: `no route ${req.method} ${req.url.split("?")[0]}`, reason: "not_found", code: "not_found" }));
}
