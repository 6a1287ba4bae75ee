// The manager's two listen addresses (API, agent gateway) as the operator configured them: checked
// before the database is opened (so a second start on a busy port neither touches the data nor
// creates an admin key it could not show), and bind failures named by the variable to change.
import net from "node:net";
import { format } from "node:util";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { InvalidArgumentError } from "#shared/errors.js";
import type { ManagerConfig } from "./config.js";

type Listener = "api" | "grpc" | "metrics";

const LISTENERS: Record<Listener, { what: string; hostVar: string; portVar: string }> = {
  api: { what: "the API", hostVar: "ORBIT_API_HOST", portVar: "ORBIT_API_PORT" },
  grpc: { what: "the agent gateway", hostVar: "ORBIT_GRPC_HOST", portVar: "ORBIT_GRPC_PORT" },
  metrics: { what: "the metrics", hostVar: "ORBIT_METRICS_ADDR", portVar: "ORBIT_METRICS_ADDR" },
};

const REASONS: Record<string, string> = {
  EADDRINUSE: "address already in use (another Orbit, or another program, listens there)",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "no such address on this machine",
  ENOTFOUND: "host name not found",
};

function listenFailure(which: Listener, address: string, code: string): InvalidArgumentError {
  const l = LISTENERS[which];
  const hostProblem = code === "EADDRNOTAVAIL" || code === "ENOTFOUND";
  const field = hostProblem ? l.hostVar : l.portVar;
  const hint = code === "EADDRINUSE" ? `; stop what listens there or choose another port with ${l.portVar}` : `; check ${field}`;
  return new InvalidArgumentError(field, `cannot listen on ${address} for ${l.what}: ${REASONS[code] ?? code}${hint}`, { code });
}

function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    server.listen({ host, port }, () => server.close(() => resolve(undefined)));
  });
}

/** Throws an InvalidArgumentError naming the variable when a configured (non-zero) port cannot be bound now. */
export async function assertListenAddressesFree(config: ManagerConfig): Promise<void> {
  const wanted: [Listener, string, number][] = [["api", config.apiHost, config.apiPort], ["grpc", config.grpcHost, config.grpcPort]];
  if (config.metrics.on === "own") wanted.push(["metrics", config.metrics.host, config.metrics.port]);
  for (const [which, host, port] of wanted) {
    if (port === 0) continue;
    const code = await tryListen(host, port);
    if (code) throw listenFailure(which, `${host}:${port}`, code);
  }
}

const GRPC_BIND_FAILED = /^No address added out of total \d+ resolved/;

/**
 * The same failure when it happens in startManager anyway (a port taken between the check and the
 * bind): Fastify throws Node's listen error, grpc-js a plain Error whose message carries it.
 */
export function explainListenFailure(e: unknown, config: ManagerConfig): unknown {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err?.syscall === "listen" && err.code) {
    return listenFailure("api", `${err.address ?? config.apiHost}:${err.port ?? config.apiPort}`, err.code);
  }
  if (err instanceof Error && GRPC_BIND_FAILED.test(err.message)) {
    const code = /listen (E[A-Z]+)/.exec(err.message)?.[1] ?? "EADDRINUSE";
    return listenFailure("grpc", `${config.grpcHost}:${config.grpcPort}`, code);
  }
  return e;
}

/**
 * grpc-js writes its own errors to stderr ("E No address added ..."): send them to the log
 * instead, leaving stderr to the one line a failed start prints. The bind failure itself is
 * reported by explainListenFailure, so it is not logged twice.
 */
export function routeGrpcLogs(log: Logger): void {
  grpc.setLogger({
    error: (...args: unknown[]) => {
      const msg = format(...args);
      if (!GRPC_BIND_FAILED.test(msg)) log.error({ source: "grpc-js" }, msg);
    },
    info: (...args: unknown[]) => log.info({ source: "grpc-js" }, format(...args)),
    debug: (...args: unknown[]) => log.debug({ source: "grpc-js" }, format(...args)),
  });
}
