// One dedicated PostgreSQL connection (a pooled one would drop LISTEN when returned) listening
// on every channel a manager follows: settings changes, commands routed to the hosts whose
// streams it holds, results of commands it routed. Notifications are handled one at a time, in
// order. When the connection is lost it reconnects with backoff and then tells every follower,
// since notifications sent meanwhile are gone.
import pg from "pg";
import type { Logger } from "pino";

export interface PgNotificationListenerOptions {
  url: string;
  log: Pick<Logger, "warn" | "info">;
  /** Backoff between reconnect attempts (ms): doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Handler = (payload: string) => Promise<void> | void;

const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;

export class PgNotificationListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly handlers = new Map<string, { handler: Handler; what: string }>();
  private readonly reconnected: { fn: () => Promise<void>; what: string }[] = [];

  constructor(private readonly o: PgNotificationListenerOptions) {
    this.retryMs = o.retryMinMs ?? 250;
  }

  /**
   * Follows a channel (before start). `what` names the follower in logs. A handler that fails
   * drops the connection, so the reconnect tells every follower to catch up.
   */
  on(channel: string, what: string, handler: Handler): void {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`not a channel name: ${channel}`);
    if (this.client) throw new Error("channels are followed before start()");
    this.handlers.set(channel, { handler, what });
  }

  /** Called after a lost connection is back: notifications sent meanwhile were missed. */
  onReconnected(what: string, fn: () => Promise<void>): void {
    this.reconnected.push({ fn, what });
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

  private async connect(afterLoss: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.o.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    client.on("notification", (n) => {
      const h = this.handlers.get(n.channel);
      if (!h || !n.payload) return;
      const payload = n.payload;
      this.enqueue(h.what, () => h.handler(payload));
    });
    await client.connect();
    // One statement for all channels (pg_stat_activity shows it, starting with the first).
    if (this.handlers.size) await client.query([...this.handlers.keys()].map((c) => `LISTEN ${c}`).join("; "));
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = this.o.retryMinMs ?? 250;
    this.failedAttempts = 0;
    if (afterLoss) {
      this.o.log.info("notification connection back; catching up on what was missed");
      for (const r of this.reconnected) this.enqueue(r.what, r.fn);
    }
  }

  private enqueue(what: string, work: () => Promise<void> | void): void {
    this.queue = this.queue.then(work).catch((e: unknown) => {
      this.o.log.warn({ err: e, follower: what }, `${what}: handling a notification failed; catching up on reconnect`);
      // What the follower holds may now be stale: drop the connection so the reconnect catches up.
      void this.client?.end().catch(() => undefined);
    });
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    this.o.log.warn({ err }, "notification connection lost; reconnecting");
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
        if (this.failedAttempts++ === 0) this.o.log.warn({ err: e }, "notification connection failed; retrying until it is back");
        this.scheduleReconnect();
      });
    }, wait);
  }
}
