// OrbitError → gRPC status: chosen here, at the edge, and nowhere else.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { OrbitError, databaseUnavailableFrom, type ErrorCode } from "#shared/errors.js";

const STATUS: Record<ErrorCode, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  conflict: status.FAILED_PRECONDITION,
  insufficient_capacity: status.RESOURCE_EXHAUSTED,
  unauthenticated: status.UNAUTHENTICATED,
  forbidden: status.PERMISSION_DENIED,
  agent_unavailable: status.UNAVAILABLE,
  hypervisor_error: status.INTERNAL,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  unsupported: status.UNIMPLEMENTED,
  database_unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

export function toServiceError(e: unknown): Partial<ServiceError> {
  const md = new Metadata();
  e = databaseUnavailableFrom(e) ?? e;
  if (e instanceof OrbitError) {
    md.set("x-orbit-error-code", e.code);
    return { code: STATUS[e.code], details: e.message, message: e.message, metadata: md };
  }
  return { code: status.INTERNAL, details: "internal error", message: "internal error", metadata: md };
}
