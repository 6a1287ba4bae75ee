// Prometheus metrics of an agent (GET /metrics on metrics.listen): commands by kind and outcome,
// heartbeats sent, connections to the manager, and the process's default metrics. Labels take
// values from bounded sets (command kinds of the protocol, two outcomes).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Command kinds ($case names of the protocol); anything else counts as "other". */
const KIND = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function commandKindLabel(kind: string | undefined): string {
  return kind && KIND.test(kind) ? kind : "other";
}

/** What the connection tells (connection/agent-connection.ts). */
export interface ConnectionObserver {
  /** A stream to the manager is open (registration done). */
  connected(): void;
  /** That stream ended. */
  disconnected(): void;
  /** An attempt to reach the manager failed (before a stream opened). */
  connectFailed(): void;
  heartbeatSent(): void;
  commandExecuted(kind: string | undefined, ok: boolean, seconds: number): void;
}

const SECONDS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class AgentMetrics implements ConnectionObserver {
  readonly registry = new Registry();
  private readonly commands: Histogram<"kind" | "outcome">;
  private readonly heartbeats: Counter;
  private readonly reconnects: Counter;
  private readonly connectFailures: Counter;
  private readonly managerConnected: Gauge;
  private everConnected = false;
  private isConnected = false;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.commands = new Histogram({
      name: "orbit_agent_command_duration_seconds", help: "Commands executed by this agent, by command kind and outcome (ok, error)",
      labelNames: ["kind", "outcome"], buckets: SECONDS, registers,
    });
    this.heartbeats = new Counter({ name: "orbit_agent_heartbeats_sent_total", help: "Heartbeats written to the manager's stream", registers });
    this.reconnects = new Counter({ name: "orbit_agent_reconnects_total", help: "Streams to the manager opened after the first one", registers });
    this.connectFailures = new Counter({ name: "orbit_agent_connect_failures_total", help: "Attempts to reach the manager that failed", registers });
    this.managerConnected = new Gauge({ name: "orbit_agent_manager_connected", help: "1 while a stream to the manager is open", registers });
    // The agent runs alone in its process: the default metrics go in its own registry.
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Ready means connected to a manager (its /readyz). */
  get connectedToManager(): boolean {
    return this.isConnected;
  }

  connected(): void {
    if (this.everConnected) this.reconnects.inc();
    this.everConnected = true;
    this.isConnected = true;
    this.managerConnected.set(1);
  }

  disconnected(): void {
    this.isConnected = false;
    this.managerConnected.set(0);
  }

  connectFailed(): void {
    this.connectFailures.inc();
  }

  heartbeatSent(): void {
    this.heartbeats.inc();
  }

  commandExecuted(kind: string | undefined, ok: boolean, seconds: number): void {
    this.commands.observe({ kind: commandKindLabel(kind), outcome: ok ? "ok" : "error" }, seconds);
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
