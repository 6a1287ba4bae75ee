// Process configuration of the manager, parsed once at start from the environment.
// Everything an admin tunes at run time is a global setting instead (settings/).
import { z } from "zod";
import { InvalidArgumentError } from "#shared/errors.js";
import { parseListenAddress } from "#shared/metrics-http-server.js";
import { DEFAULT_DATABASE_TIMEOUTS, type DatabaseTimeouts } from "./db/database.js";

const port = z.coerce.number().int().min(0).max(65535);
const flag = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");

const millis = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * Which binary reads the configuration. `production` (`orbit-manager`) is secure by default: mutual
 * TLS on the agent gateway and one-time join tokens only. `embedded` (`npm start`, test harnesses)
 * keeps the conveniences of a single machine: plain gRPC on loopback and a multi-use join token.
 */
export type ConfigProfile = "production" | "embedded";

const managerConfigSchema = (profile: ConfigProfile) => z.object({
  ORBIT_API_HOST: z.string().default("127.0.0.1"),
  ORBIT_API_PORT: port.default(8080),
  ORBIT_GRPC_HOST: z.string().default("127.0.0.1"),
  ORBIT_GRPC_PORT: port.default(9090),
  // "host:port" other managers tell agents to reach this one's gateway at (several managers on one
  // database); default: the gateway's own address (the machine's name when it listens on all).
  ORBIT_ADVERTISE_AGENT_ADDR: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}$/, 'expected "host:port"').optional(),
  // The URL other managers reach this one's API at (a console socket is forwarded to the manager
  // holding the VM's host stream); default: http:// and the API's own address (the machine's name
  // when it listens on all). Not ORBIT_PUBLIC_URL: that is the load balancer's.
  ORBIT_ADVERTISE_API_URL: z.string().url().optional(),
  DATABASE_URL: z.string().url().optional(),
  ORBIT_DATA_DIR: z.string().default(".orbit-data"),
  ORBIT_ADMIN_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  ORBIT_AGENT_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  ORBIT_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ORBIT_PUBLIC_URL: z.string().url().optional(),
  // Mutual TLS on the agent gateway (production: on; the embedded default stays plain on loopback).
  ORBIT_GRPC_TLS: flag.default(profile === "production"),
  // Extra names (DNS or IP, comma-separated) in the gateway's certificate, besides 127.0.0.1 and localhost.
  ORBIT_GRPC_TLS_NAMES: z.string().default(""),
  // The static join token (ORBIT_AGENT_TOKEN or generated) is a multi-use cluster token for the
  // simulated fleet and dev setups; production uses one-time registration tokens.
  ORBIT_ALLOW_STATIC_JOIN_TOKEN: flag.default(profile === "embedded"),
  ORBIT_HOST_CERT_VALIDITY_DAYS: z.coerce.number().int().min(1).max(825).default(90),
  // Callbacks to loopback and private addresses (SSRF into the manager's network): allowed only
  // where the receiver is usually on the same machine (callbacks/callback-url.ts).
  ORBIT_CALLBACK_ALLOW_PRIVATE_ADDRESSES: flag.default(profile === "embedded"),
  // Bounds on PostgreSQL so that nothing waits forever (see DatabaseTimeouts).
  ORBIT_DB_CONNECT_TIMEOUT_MS: millis(100, 600_000).default(DEFAULT_DATABASE_TIMEOUTS.connectMs),
  ORBIT_DB_STATEMENT_TIMEOUT_MS: millis(100, 3_600_000).default(DEFAULT_DATABASE_TIMEOUTS.statementMs),
  ORBIT_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: millis(100, 3_600_000).default(DEFAULT_DATABASE_TIMEOUTS.idleInTransactionMs),
  // Several managers on one database: how long a job's or a duty's lease lasts unrenewed (renewed
  // every third of it), so how long a dead manager's jobs and duties wait for another (cluster/).
  ORBIT_LEASE_TTL_MS: millis(300, 600_000).default(30_000),
  // Prometheus metrics (GET /metrics): "api" serves them on the API port without a key (as /healthz),
  // "host:port" on a listener of their own (not on the API), "off" nowhere.
  ORBIT_METRICS_ADDR: z.string().default("api").refine((v) => v === "api" || v === "off" || parseListenAddress(v) !== undefined,
    { message: 'expected "api", "off" or "host:port"' }),
});

/** Where GET /metrics is served (ORBIT_METRICS_ADDR). */
export type MetricsListen = { on: "api" } | { on: "off" } | { on: "own"; host: string; port: number };

export interface ManagerConfig {
  apiHost: string;
  apiPort: number;
  grpcHost: string;
  grpcPort: number;
  /** The agent address advertised to agents (undefined: derived from the gateway's). */
  advertiseAgentAddress: string | undefined;
  /** The API URL advertised to other managers (undefined: derived from the API's address). */
  advertiseApiUrl: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  adminKey: string | undefined;
  agentToken: string | undefined;
  logLevel: z.infer<ReturnType<typeof managerConfigSchema>>["ORBIT_LOG_LEVEL"];
  publicUrl: string | undefined;
  grpcTls: boolean;
  grpcTlsNames: string[];
  allowStaticJoinToken: boolean;
  hostCertValidityDays: number;
  callbackAllowPrivateAddresses: boolean;
  databaseTimeouts: DatabaseTimeouts;
  metrics: MetricsListen;
  /** ORBIT_LEASE_TTL_MS (default 30 s): job and duty leases (cluster/README.md). */
  leaseTtlMs?: number;
}

export function loadManagerConfig(
  env: Record<string, string | undefined> = process.env, opts: { profile?: ConfigProfile } = {},
): ManagerConfig {
  const schema = managerConfigSchema(opts.profile ?? "production");
  const picked = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    throw new InvalidArgumentError(key, `${key}: ${issue.message}`);
  }
  const c = parsed.data;
  if (opts.profile !== "embedded" && c.ORBIT_ALLOW_STATIC_JOIN_TOKEN && !c.ORBIT_AGENT_TOKEN) {
    // A generated multi-use token would have to be printed (into the journal) at every start.
    throw new InvalidArgumentError("ORBIT_AGENT_TOKEN",
      "ORBIT_AGENT_TOKEN: required when ORBIT_ALLOW_STATIC_JOIN_TOKEN=true (orbit-manager prints no generated token); or use one-time registration tokens");
  }
  return {
    apiHost: c.ORBIT_API_HOST,
    apiPort: c.ORBIT_API_PORT,
    grpcHost: c.ORBIT_GRPC_HOST,
    grpcPort: c.ORBIT_GRPC_PORT,
    advertiseAgentAddress: c.ORBIT_ADVERTISE_AGENT_ADDR,
    advertiseApiUrl: c.ORBIT_ADVERTISE_API_URL,
    databaseUrl: c.DATABASE_URL,
    dataDir: c.ORBIT_DATA_DIR,
    adminKey: c.ORBIT_ADMIN_KEY,
    agentToken: c.ORBIT_AGENT_TOKEN,
    logLevel: c.ORBIT_LOG_LEVEL,
    publicUrl: c.ORBIT_PUBLIC_URL,
    grpcTls: c.ORBIT_GRPC_TLS,
    grpcTlsNames: c.ORBIT_GRPC_TLS_NAMES.split(",").map((n) => n.trim()).filter(Boolean),
    allowStaticJoinToken: c.ORBIT_ALLOW_STATIC_JOIN_TOKEN,
    hostCertValidityDays: c.ORBIT_HOST_CERT_VALIDITY_DAYS,
    callbackAllowPrivateAddresses: c.ORBIT_CALLBACK_ALLOW_PRIVATE_ADDRESSES,
    metrics: c.ORBIT_METRICS_ADDR === "api" || c.ORBIT_METRICS_ADDR === "off" ? { on: c.ORBIT_METRICS_ADDR } : { on: "own", ...parseListenAddress(c.ORBIT_METRICS_ADDR)! },
    leaseTtlMs: c.ORBIT_LEASE_TTL_MS,
    databaseTimeouts: {
      connectMs: c.ORBIT_DB_CONNECT_TIMEOUT_MS,
      statementMs: c.ORBIT_DB_STATEMENT_TIMEOUT_MS,
      idleInTransactionMs: c.ORBIT_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
  };
}
