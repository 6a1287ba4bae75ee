// Process configuration of the manager, parsed once at start from the environment.
// Everything an admin tunes at run time is a global setting instead (settings/).
import { z } from "zod";
import { InvalidArgumentError } from "#shared/errors.js";

const port = z.coerce.number().int().min(0).max(65535);
const flag = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");

const ManagerConfigSchema = z.object({
  ORBIT_API_HOST: z.string().default("127.0.0.1"),
  ORBIT_API_PORT: port.default(8080),
  ORBIT_GRPC_HOST: z.string().default("127.0.0.1"),
  ORBIT_GRPC_PORT: port.default(9090),
  DATABASE_URL: z.string().url().optional(),
  ORBIT_DATA_DIR: z.string().default(".orbit-data"),
  ORBIT_ADMIN_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  ORBIT_AGENT_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  ORBIT_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ORBIT_PUBLIC_URL: z.string().url().optional(),
  // Mutual TLS on the agent gateway (off by default: the embedded default stays plain on loopback).
  ORBIT_GRPC_TLS: flag.default(false),
  // Extra names (DNS or IP, comma-separated) in the gateway's certificate, besides 127.0.0.1 and localhost.
  ORBIT_GRPC_TLS_NAMES: z.string().default(""),
  // The static join token (ORBIT_AGENT_TOKEN or generated) is a multi-use cluster token for the
  // simulated fleet and dev setups; production sets this to false and uses one-time tokens.
  ORBIT_ALLOW_STATIC_JOIN_TOKEN: flag.default(true),
  ORBIT_HOST_CERT_VALIDITY_DAYS: z.coerce.number().int().min(1).max(825).default(90),
});

export interface ManagerConfig {
  apiHost: string;
  apiPort: number;
  grpcHost: string;
  grpcPort: number;
  databaseUrl: string | undefined;
  dataDir: string;
  adminKey: string | undefined;
  agentToken: string | undefined;
  logLevel: z.infer<typeof ManagerConfigSchema>["ORBIT_LOG_LEVEL"];
  publicUrl: string | undefined;
  grpcTls: boolean;
  grpcTlsNames: string[];
  allowStaticJoinToken: boolean;
  hostCertValidityDays: number;
}

export function loadManagerConfig(env: Record<string, string | undefined> = process.env): ManagerConfig {
  const picked = Object.fromEntries(
    Object.keys(ManagerConfigSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]),
  );
  const parsed = ManagerConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    throw new InvalidArgumentError(key, `${key}: ${issue.message}`);
  }
  const c = parsed.data;
  return {
    apiHost: c.ORBIT_API_HOST,
    apiPort: c.ORBIT_API_PORT,
    grpcHost: c.ORBIT_GRPC_HOST,
    grpcPort: c.ORBIT_GRPC_PORT,
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
  };
}
