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
  constructor(message: string) {
    super("unsupported", message);
  }
}

export function isOrbitError(e: unknown): e is OrbitError {
  return e instanceof OrbitError;
}

/** Wire form (proto ErrorInfo / JSON) of any thrown value. */
export function toErrorInfo(e: unknown): { code: string; message: string; retryable: boolean } {
  if (e instanceof OrbitError) return { code: e.code, message: e.message, retryable: e.retryable };
  const message = e instanceof Error ? e.message : String(e);
  return { code: "internal", message, retryable: false };
}

const KNOWN_CODES = new Set<ErrorCode>([
  "invalid_argument", "not_found", "already_exists", "conflict", "insufficient_capacity",
  "unauthenticated", "forbidden", "agent_unavailable", "hypervisor_error", "deadline_exceeded",
  "unsupported", "internal",
]);

export function fromErrorInfo(info: { code: string; message: string; retryable: boolean }): OrbitError {
  const code = KNOWN_CODES.has(info.code as ErrorCode) ? (info.code as ErrorCode) : "internal";
  return new OrbitError(code, info.message, { retryable: info.retryable });
}
