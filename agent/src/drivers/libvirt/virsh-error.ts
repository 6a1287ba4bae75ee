// PURE: virsh's stderr ("error: ..." lines) -> a typed HypervisorError whose `kind` callers can
// branch on (domain absent, already running, not running...) while keeping libvirt's own text.
import { HypervisorError } from "#shared/errors.js";

export type VirshErrorKind =
  | "no_domain"
  | "no_snapshot"
  | "already_running"
  | "not_running"
  | "operation_invalid"
  | "already_exists"
  | "metadata_not_found"
  | "device_not_found"
  | "invalid_config"
  | "unsupported"
  | "connection"
  | "timeout"
  | "unknown";

export class VirshError extends HypervisorError {
  readonly kind: VirshErrorKind;
  readonly args: readonly string[];
  constructor(kind: VirshErrorKind, message: string, virshError: string, args: readonly string[] = []) {
    super(message, { virshError, code: kind, retryable: kind === "connection" || kind === "timeout" });
    this.kind = kind;
    this.args = args;
  }
}

export function isVirshError(e: unknown, kind?: VirshErrorKind): e is VirshError {
  return e instanceof VirshError && (kind === undefined || e.kind === kind);
}

// Most specific first: virsh often prints a generic line ("Failed to start domain") and then
// libvirt's reason; the reason decides the kind.
const RULES: [VirshErrorKind, RegExp][] = [
  ["connection", /failed to connect to the hypervisor|Failed to connect socket|End of file while reading data|Cannot recv data|Cannot write data|no connection driver available|client socket is closed/i],
  ["timeout", /Timed out during operation|cannot acquire state change lock/i],
  ["no_snapshot", /Domain snapshot not found|no domain snapshot with matching/i],
  ["no_domain", /failed to get domain|Domain not found|no domain with matching/i],
  ["already_running", /Domain is already active|domain is already running/i],
  ["not_running", /domain is not running|domain is not active|domain '[^']*' not running/i],
  ["metadata_not_found", /metadata not found/i],
  ["device_not_found", /No disk found|no target device|device not found|No device with/i],
  ["already_exists", /already exists/i],
  ["unsupported", /unsupported flags|not supported by the connection driver|Operation not supported|this function is not supported/i],
  ["invalid_config", /XML error|unsupported configuration|invalid argument|XML document failed to validate/i],
  ["operation_invalid", /Requested operation is not valid/i],
];

/** The `error: ` lines of virsh's stderr, without the prefix. */
export function virshErrorLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("error: "))
    .map((l) => l.slice("error: ".length));
}

export function classifyVirshError(stderr: string): VirshErrorKind {
  const text = virshErrorLines(stderr).join("\n") || stderr;
  for (const [kind, re] of RULES) if (re.test(text)) return kind;
  return "unknown";
}

export function virshErrorFrom(stderr: string, args: readonly string[], exitCode?: number): VirshError {
  const lines = virshErrorLines(stderr);
  const text = lines.length > 0 ? lines.join(": ") : stderr.trim() || `virsh exited with code ${exitCode ?? "?"}`;
  return new VirshError(classifyVirshError(stderr), `virsh ${args[0] ?? ""}: ${text}`, stderr.trim(), args);
}
