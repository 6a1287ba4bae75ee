// A pg.Pool for drizzle's node-postgres transactions that never loses or reuses a dead client.
// drizzle-orm 0.45 (and 1.0 rc) runs BEGIN before the try/finally that releases the pooled
// client, so a BEGIN that fails (its backend terminated while the client sat idle) leaks the
// client for good; and a failed transaction whose ROLLBACK also failed is released as healthy.
// Under repeated backend terminations the pool drained and every request waited out the connect
// timeout (drizzle-team/drizzle-orm#6241, #6114; still open). Here a client checked out through
// connect() (drizzle's transaction path) is released at once, with the error so that pg-pool
// destroys it, when BEGIN fails or the connection itself fails; later queries on that checkout
// fail with the same error and later releases are no-ops. Remove when drizzle fixes it.
import pg from "pg";

interface Checkout {
  released: boolean;
  failure?: Error | undefined;
}

const checkouts = new WeakMap<pg.PoolClient, Checkout>();
const guarded = new WeakSet<pg.PoolClient>();

/** PostgreSQL error classes meaning the connection is gone: 08 (connection exception), 57P0x (shutdown, termination). */
function connectionLost(err: unknown, client: pg.PoolClient): boolean {
  const state = client as unknown as { _ending?: boolean; _queryable?: boolean };
  if (state._ending || state._queryable === false) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && (code.startsWith("08") || /^57P0\d$/.test(code))) return true;
  return /Connection terminated|not queryable|ECONNRESET|EPIPE/i.test((err as Error | undefined)?.message ?? "");
}

function isBegin(query: unknown): boolean {
  const text = typeof query === "string" ? query : (query as { text?: unknown } | undefined)?.text;
  return typeof text === "string" && /^\s*begin\b/i.test(text);
}

function guard(client: pg.PoolClient): pg.PoolClient {
  const checkout: Checkout = { released: false };
  checkouts.set(client, checkout);
  const poolRelease = client.release.bind(client);
  // pg-pool gives every checkout a fresh release(); wrapping it is per checkout too.
  client.release = (err?: Error | boolean) => {
    if (checkout.released) return;
    checkout.released = true;
    poolRelease(checkout.failure ?? err);
  };
  if (!guarded.has(client)) {
    guarded.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const current = checkouts.get(client);
      // Checked out through pool.query: pg-pool handles it.
      if (!current) return query(...args);
      // drizzle's ROLLBACK after the guard gave the dead client back: fail as the transaction did.
      if (current.released) return Promise.reject(current.failure ?? new Error("the database client was already released"));
      const result = query(...args) as Promise<unknown> | undefined;
      if (!result || typeof result.then !== "function" || typeof args[args.length - 1] === "function") return result;
      return result.catch((err: unknown) => {
        if (isBegin(args[0]) || connectionLost(err, client)) {
          current.failure = err instanceof Error ? err : new Error(String(err));
          client.release();
        }
        throw err;
      });
    };
  }
  return client;
}

export class TransactionSafePool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<pg.PoolClient> | void {
    if (callback) {
      // pool.query's own path: pg-pool releases these itself.
      super.connect((err, client, done) => {
        if (client) checkouts.delete(client);
        callback(err, client, done);
      });
      return;
    }
    return super.connect().then(guard);
  }
}
