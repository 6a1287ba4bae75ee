// Process configuration of the manager, parsed once at start from the environment.
// Everything an admin tunes at run time is a global setting instead (settings/).
import { z } from "zod";
import { InvalidArgumentError } from "#shared/errors.js";

const port = z.coerce.number().int().min(0).max(65535);

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
  };
}
