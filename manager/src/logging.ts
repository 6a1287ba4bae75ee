// The manager's logger: pino with secrets kept out. Keys that name secrets are redacted wherever
// they appear (two levels deep), and errors are serialized without what drivers attach to them:
// drizzle puts a failed query's parameters (API key hashes, host secrets, user data) into the
// error's message and `params`; node-postgres errors can reach the client object holding the
// cancel key. A log line says what failed, never with which values.
import pino, { type DestinationStream, type Logger } from "pino";

const SECRET_KEYS = [
  "authorization", "api_key", "apiKey", "adminKey", "admin_key", "key", "keyHash", "key_hash",
  "token", "joinToken", "agentToken", "secret", "hostSecret", "host_secret", "secretKey",
  "password", "params", "client", "connection", "privateKeyPem", "keyPem", "csrPem",
];

/** pino redact paths: each secret key at the top level, one and two levels down, and in request headers. */
export const REDACT_PATHS: string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers["api-key"]', 'req.headers["x-orbit-host-secret"]',
];

const DROPPED_ERROR_KEYS = new Set([...SECRET_KEYS, "query", "raw"]);

// drizzle's "Failed query: ...\nparams: a,b,c" (and any wrapper that repeats it): the values go.
const PARAMS_IN_TEXT = /\nparams: [\s\S]*?(?=\n {4}at |$)/g;

export function scrubText(s: string): string {
  return s.replace(PARAMS_IN_TEXT, "\nparams: [redacted]");
}

function isErrorLike(v: unknown): v is Error {
  return v instanceof Error || (typeof v === "object" && v !== null && typeof (v as Error).message === "string" && typeof (v as Error).stack === "string");
}

function isPlainData(v: unknown, depth = 0): boolean {
  if (v === null || typeof v !== "object") return typeof v !== "function";
  if (depth > 3) return false;
  if (Array.isArray(v)) return v.every((x) => isPlainData(x, depth + 1));
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false; // class instances: clients, sockets...
  return Object.entries(v as Record<string, unknown>).every(([k, x]) => !DROPPED_ERROR_KEYS.has(k) && isPlainData(x, depth + 1));
}

/** An error as plain data: type, scrubbed message and stack, SQLSTATE and other plain fields, its causes. */
export function serializeError(err: unknown, depth = 0): unknown {
  if (typeof err === "string") return scrubText(err);
  if (!isErrorLike(err)) return err;
  const out: Record<string, unknown> = {
    type: err.constructor?.name ?? err.name,
    message: scrubText(err.message),
    stack: scrubText(err.stack ?? ""),
  };
  for (const key of Object.keys(err)) {
    if (DROPPED_ERROR_KEYS.has(key) || key in out || key === "cause" || key === "errors") continue;
    const v = (err as unknown as Record<string, unknown>)[key];
    if (isErrorLike(v)) {
      if (depth < 4) out[key] = serializeError(v, depth + 1);
    } else if (isPlainData(v)) {
      out[key] = typeof v === "string" ? scrubText(v) : v;
    }
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined && depth < 4) out.cause = serializeError(cause, depth + 1);
  const members = (err as { errors?: unknown }).errors;
  if (Array.isArray(members) && depth < 4) out.errors = members.slice(0, 5).map((m) => serializeError(m, depth + 1));
  return out;
}

export interface ManagerLoggerOptions {
  level: string;
  /** Where lines go (tests capture them); stdout when absent. */
  destination?: DestinationStream;
}

export function createManagerLogger(o: ManagerLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: o.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: { err: serializeError, error: serializeError },
  };
  return o.destination ? pino(options, o.destination) : pino(options);
}
