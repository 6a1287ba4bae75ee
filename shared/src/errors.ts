// Typed errors with stable codes and a retryable flag. HTTP and gRPC status codes are chosen
// only at the edges (manager/src/api/errors.ts, manager/src/agents/grpc-errors.ts).

export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "conflict"
  | "insufficient_capacity"
  | "unauthenticated"
  | "forbidden"
  | "agent_unavailable"
  | "hypervisor_error"
  | "deadline_exceeded"
  | "unsupported"
  | "database_unavailable"
  | "internal";

export interface OrbitErrorOptions {
  details?: Record<string, unknown>;
  retryable?: boolean;
  cause?: unknown;
}

export class OrbitError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: OrbitErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = opts.details ?? {};
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

export class InvalidArgumentError extends OrbitError {
  readonly field: string;
  constructor(field: string, message: string, details: Record<string, unknown> = {}) {
    super("invalid_argument", message, { details: { field, ...details } });
    this.field = field;
  }
}

export class NotFoundError extends OrbitError {
  constructor(resource: string, id: string | number, message?: string) {
    super("not_found", message ?? `${resource} ${id} not found`, { details: { resource, id } });
  }
}

export class AlreadyExistsError extends OrbitError {
  constructor(resource: string, key: string, message?: string) {
    super("already_exists", message ?? `${resource} ${key} already exists`, { details: { resource, key } });
  }
}

/** An action asked of something in a state that does not allow it. */
export class ConflictError extends OrbitError {
  constructor(message: string, state?: string, details: Record<string, unknown> = {}) {
    super("conflict", message, { details: state === undefined ? details : { state, ...details } });
  }
}

export interface HostRejection {
  hostId: string;
  hostName: string;
  filter: string;
  reason: string;
}

export class InsufficientCapacityError extends OrbitError {
  readonly rejections: HostRejection[];
  constructor(message: string, rejections: HostRejection[] = [], retryable = true) {
    super("insufficient_capacity", message, { details: { rejections }, retryable });
    this.rejections = rejections;
  }
}

export class UnauthenticatedError extends OrbitError {
  constructor(message = "missing or invalid credentials") {
    super("unauthenticated", message);
  }
}

export class ForbiddenError extends OrbitError {
  constructor(message = "not allowed") {
    super("forbidden", message);
  }
}

/** Which per-account limit a request would exceed, with the account's usage and the limit. */
export interface AccountLimitBreach {
  limit: "vms" | "vcpus" | "memory_mib" | "gpus";
  usage: number;
  requested: number;
  max: number;
}

/** A request would take an account past one of its limits (CloudStack's max.account.*). */
export class AccountLimitError extends OrbitError {
  readonly breach: AccountLimitBreach;
  constructor(accountId: number, b: AccountLimitBreach) {
    super("forbidden", `account limit reached: ${b.limit} in use ${b.usage} + requested ${b.requested} would exceed the limit of ${b.max}`, {
      details: { accountId, limit: b },
    });
    this.breach = b;
  }
}

export class AgentUnavailableError extends OrbitError {
  constructor(hostId: string, message?: string) {
    super("agent_unavailable", message ?? `agent of host ${hostId} is not connected`, {
      details: { hostId },
      retryable: true,
    });
  }
}

/** libvirt/virsh (or the simulator) refused or failed an operation. */
export class HypervisorError extends OrbitError {
  readonly virshError: string | undefined;
  constructor(message: string, opts: { virshError?: string; retryable?: boolean; code?: string } = {}) {
    super("hypervisor_error", message, {
      details: { virshError: opts.virshError, libvirtCode: opts.code },
      retryable: opts.retryable ?? false,
    });
    this.virshError = opts.virshError;
  }
}

export class DeadlineExceededError extends OrbitError {
  constructor(message: string) {
    super("deadline_exceeded", message, { retryable: true });
  }
}

export class UnsupportedError extends OrbitError {
  /** `field`: the request field asking for what is not supported, when there is one. */
  constructor(message: string, field?: string) {
    super("unsupported", message, field === undefined ? {} : { details: { field } });
  }
}

/**
 * The database did not answer: connection refused or lost, server shutting down or restarting,
 * a timeout. Retryable: the same request can succeed once the database is back.
 */
export class DatabaseUnavailableError extends OrbitError {
  /** Seconds a client should wait before trying again (HTTP Retry-After). */
  readonly retryAfterSeconds: number;
  constructor(reason: string, opts: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super("database_unavailable", `the database is unavailable (${reason}); try again shortly`, {
      details: { reason }, retryable: true, cause: opts.cause,
    });
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 5;
  }
}

// SQLSTATE classes and codes that say the server, not the statement, is the problem:
// 08 connection exceptions, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
// 57014 statement timeout (or cancel), 25P03 idle-in-transaction timeout, 53300 too many connections.
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "57014", "25P03", "53300"]);
const UNAVAILABLE_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
// node-postgres and pg-pool raise these as plain Errors without a code.
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, /not queryable/, /timeout exceeded when trying to connect/i,
  /^Query read timeout/, /Cannot use a pool after calling end/,
];

function unavailableReason(e: object): string | undefined {
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    if (/^08[0-9A-Z]{3}$/.test(code) || UNAVAILABLE_SQLSTATES.has(code)) {
      return code === "57014" ? `statement timeout or cancel, SQLSTATE ${code}` : `SQLSTATE ${code}`;
    }
    if (UNAVAILABLE_ERRNOS.has(code)) return code;
  }
  if (typeof message === "string" && UNAVAILABLE_MESSAGES.some((re) => re.test(message))) return message.split("\n")[0];
  return undefined;
}

/**
 * A DatabaseUnavailableError when `e` (or an error in its cause chain: drizzle wraps driver
 * errors) says the database is unreachable, else undefined. Recognises node-postgres errors by
 * SQLSTATE, errno and message, so this module needs no driver import.
 */
export function databaseUnavailableFrom(e: unknown): DatabaseUnavailableError | undefined {
  if (e instanceof DatabaseUnavailableError) return e;
  if (e instanceof OrbitError) return undefined;
  let cur: unknown = e;
  for (let depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    const reason = unavailableReason(cur);
    if (reason) return new DatabaseUnavailableError(reason, { cause: e });
    // AggregateError (one per address tried) carries the errno on its members.
    const members = (cur as { errors?: unknown }).errors;
    if (Array.isArray(members)) {
      for (const m of members) {
        const r = m && typeof m === "object" ? unavailableReason(m) : undefined;
        if (r) return new DatabaseUnavailableError(r, { cause: e });
      }
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

// SQLSTATE 40P01 deadlock detected, 40001 serialization failure: PostgreSQL aborted one of two
// transactions that crossed; the same work done again succeeds.
const TRANSACTION_CONFLICT_SQLSTATES = new Set(["40P01", "40001"]);

/**
 * A retryable conflict when `e` (or an error in its cause chain) is a transaction PostgreSQL
 * aborted to break a deadlock or a serialization failure, else undefined.
 */
export function transactionConflictFrom(e: unknown): OrbitError | undefined {
  if (e instanceof OrbitError) return undefined;
  let cur: unknown = e;
  for (let depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && TRANSACTION_CONFLICT_SQLSTATES.has(code)) {
      const what = code === "40P01" ? "deadlock detected" : "serialization failure";
      return new OrbitError("conflict", `the database aborted this change because it crossed another (${what}, SQLSTATE ${code}); try again`, {
        details: { reason: "transaction_conflict" }, retryable: true, cause: e,
      });
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isOrbitError(e: unknown): e is OrbitError {
  return e instanceof OrbitError;
}

/** Wire form (proto ErrorInfo / JSON) of any thrown value. */
export function toErrorInfo(e: unknown): { code: string; message: string; retryable: boolean } {
  const unavailable = databaseUnavailableFrom(e);
  if (unavailable) return { code: unavailable.code, message: unavailable.message, retryable: true };
  if (e instanceof OrbitError) return { code: e.code, message: e.message, retryable: e.retryable };
  const conflict = transactionConflictFrom(e);
  if (conflict) return { code: conflict.code, message: conflict.message, retryable: true };
  // drizzle's query errors carry the statement's parameters in their message: never pass them on.
  const driver = e && typeof e === "object" && "params" in e && "query" in e ? (e as { cause?: unknown }).cause : undefined;
  if (driver !== undefined) return { code: "internal", message: `database query failed: ${driver instanceof Error ? driver.message : "error"}`, retryable: false };
  const message = e instanceof Error ? e.message : String(e);
  return { code: "internal", message, retryable: false };
}

const KNOWN_CODES = new Set<ErrorCode>([
  "invalid_argument", "not_found", "already_exists", "conflict", "insufficient_capacity",
  "unauthenticated", "forbidden", "agent_unavailable", "hypervisor_error", "deadline_exceeded",
  "unsupported", "database_unavailable", "internal",
]);

export function fromErrorInfo(info: { code: string; message: string; retryable: boolean }): OrbitError {
  const code = KNOWN_CODES.has(info.code as ErrorCode) ? (info.code as ErrorCode) : "internal";
  return new OrbitError(code, info.message, { retryable: info.retryable });
}
