// Follows other managers' setting changes on PostgreSQL: a dedicated connection (a pooled one
// would drop LISTEN when returned) listening on SETTINGS_CHANNEL. Each notification re-reads the
// named setting. When the connection is lost it reconnects with backoff and then re-reads every
// setting, since notifications sent meanwhile are gone.
import pg from "pg";
import type { Logger } from "pino";
import { SETTINGS_CHANNEL, type SettingsService } from "./settings-service.js";

export interface SettingsListenerOptions {
  url: string;
  settings: Pick<SettingsService, "reload" | "reloadAll">;
  log: Pick<Logger, "warn" | "info">;
  /** Backoff between reconnect attempts (ms): doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export class SettingsListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  /** Notifications are applied one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: SettingsListenerOptions) {
    this.retryMs = o.retryMinMs ?? 250;
  }

  /** Connects and listens; resolves once listening (or rejects when the first connection fails). */
  async start(): Promise<void> {
    await this.connect(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
    await this.queue;
  }

  private async connect(reloadAfter: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.o.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    client.on("notification", (n) => {
      if (n.channel !== SETTINGS_CHANNEL || !n.payload) return;
      const name = n.payload;
      this.enqueue(() => this.o.settings.reload(name, (m) => this.o.log.warn(m)));
    });
    await client.connect();
    await client.query(`LISTEN ${SETTINGS_CHANNEL}`);
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = this.o.retryMinMs ?? 250;
    this.failedAttempts = 0;
    if (reloadAfter) {
      this.o.log.info("settings notification connection back; re-reading every setting");
      this.enqueue(() => this.o.settings.reloadAll((m) => this.o.log.warn(m)));
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((e: unknown) => {
      this.o.log.warn({ err: e }, "re-reading settings after a change failed; retrying on reconnect");
      // The values may now be stale: drop the connection so the reconnect re-reads them all.
      void this.client?.end().catch(() => undefined);
    });
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    this.o.log.warn({ err }, "settings notification connection lost; reconnecting");
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.o.retryMaxMs ?? 5000);
    this.timer = setTimeout(() => {
      this.connect(true).catch((e: unknown) => {
        // Once per outage: the database health log already says the database is away.
        if (this.failedAttempts++ === 0) this.o.log.warn({ err: e }, "settings notification connection failed; retrying until it is back");
        this.scheduleReconnect();
      });
    }, wait);
  }
}
