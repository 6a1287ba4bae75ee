// The router between managers on one PostgreSQL: two routers (two "managers") on one database,
// each with its own sessions and notification connection; agents are fake stream sinks.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentUnavailableError } from "#shared/errors.js";
import { CommandResult, type Command, type ManagerMessage } from "#shared/protocol.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { PgNotificationListener } from "../db/pg-notification-listener.js";
import { commands, hosts } from "../db/schema.js";
import { seedFleet, sqlRows } from "../placement/testing/placement-fixture.js";
import type { HostStreamHandler } from "./agent-gateway.js";
import { AgentSessions } from "./agent-sessions.js";
import { CommandRouter, decodeCommand, decodeResult, encodeCommand, encodeResult } from "./command-router.js";

const silent = pino({ level: "silent" });

function command(): Command {
  return { commandId: randomUUID(), deadlineMs: Date.now() + 10_000, vmUuid: "", body: { $case: "getVmStats", value: {} } };
}

describe("routed commands' encoding", () => {
  it("round-trips a Command and a CommandResult through the text column", () => {
    const c = command();
    expect(decodeCommand(encodeCommand(c))).toEqual(c);
    const r = CommandResult.fromPartial({ commandId: c.commandId, ok: false, error: { code: "not_found", message: "gone", retryable: false } });
    expect(decodeResult(encodeResult(r))).toEqual(r);
  });
});

if (!process.env.TEST_DATABASE_URL) {
  describe("CommandRouter between managers", () => {
    it.skip("needs PostgreSQL (TEST_DATABASE_URL): LISTEN/NOTIFY between connections", () => {});
  });
}

describe.runIf(process.env.TEST_DATABASE_URL)("CommandRouter between managers", () => {
  let database: Database & { url?: string };
  let hostId: number;
  const managers: { id: string; sessions: AgentSessions; router: CommandRouter; handler: HostStreamHandler; listener: PgNotificationListener }[] = [];
  const none: HostStreamHandler = {
    onConnected: async () => {}, onHeartbeat: async () => {}, onDomainEvent: async () => {}, onLateResult: async () => {}, onDisconnected: async () => {},
  };

  beforeAll(async () => {
    database = await openTestDatabase();
    await seedFleet(database.db, { hosts: 1, cpus: 8, memoryMib: 8192, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
    hostId = (await sqlRows<{ id: number }>(database.db, sql`select id from hosts`))[0]!.id;
    for (let i = 0; i < 2; i++) {
      const sessions = new AgentSessions();
      const id = randomUUID();
      const router = new CommandRouter({ db: database.db, sessions, managerId: id, log: silent });
      const listener = new PgNotificationListener({ url: database.url!, log: silent });
      router.follow(listener);
      await listener.start();
      managers.push({ id, sessions, router, handler: router.handler(none), listener });
    }
  });
  afterAll(async () => {
    for (const m of managers) { m.router.stop(); await m.listener.stop(); }
    await database?.close();
  });

  /** A fake agent on manager m: answers every command (unless mute) and records what it got. */
  async function connect(m: (typeof managers)[number], o: { mute?: boolean } = {}): Promise<{ got: Command[]; sessionId: string }> {
    const got: Command[] = [];
    const sessionId = m.sessions.open(hostId, {
      write: (msg: ManagerMessage) => {
        if (msg.body?.$case !== "command") return;
        const c = msg.body.value;
        got.push(c);
        if (!o.mute) setTimeout(() => m.sessions.resolve(hostId, CommandResult.fromPartial({ commandId: c.commandId, ok: true })), 10);
      },
      end: () => {},
    });
    await m.handler.onConnected(hostId);
    return { got, sessionId };
  }
  async function disconnect(m: (typeof managers)[number], sessionId: string): Promise<void> {
    m.sessions.close(hostId, sessionId, "test");
    await m.handler.onDisconnected(hostId);
  }
  const row = async (id: string) => (await database.db.select().from(commands).where(eq(commands.id, id)))[0]!;
  const route = (m: (typeof managers)[number], c: Command, pickupInMs: number) =>
    m.router.route(hostId, c, { vmId: null, jobId: null, kind: "getVmStats", timeoutMs: 5000, pickupBy: Date.now() + pickupInMs });

  it("a command for a host on the other manager is sent by that one, and its result comes back", async () => {
    const [a, b] = [managers[0]!, managers[1]!];
    const agent = await connect(a);
    expect((await database.db.select({ m: hosts.connectedManagerId }).from(hosts).where(eq(hosts.id, hostId)))[0]!.m).toBe(a.id);
    const c = command();
    const r = await route(b, c, 5000);
    expect(r).toMatchObject({ commandId: c.commandId, ok: true });
    expect(agent.got.map((g) => g.commandId)).toEqual([c.commandId]);
    expect(await row(c.commandId)).toMatchObject({ status: "succeeded", hostId });
    await disconnect(a, agent.sessionId);
    expect((await database.db.select({ m: hosts.connectedManagerId }).from(hosts).where(eq(hosts.id, hostId)))[0]!.m).toBeNull();
  });

  it("is withdrawn when no manager holds the host's stream by its pickup deadline, and never sent later", async () => {
    const c = command();
    await expect(route(managers[1]!, c, 300)).rejects.toBeInstanceOf(AgentUnavailableError);
    expect(await row(c.commandId)).toMatchObject({ status: "pending", error: { code: "agent_unavailable" } });
    const agent = await connect(managers[0]!);
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.got).toEqual([]);
    await disconnect(managers[0]!, agent.sessionId);
  });

  it("waits for the host to connect to some manager, which then sends it", async () => {
    const c = command();
    const result = route(managers[1]!, c, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const agent = await connect(managers[0]!);
    expect(await result).toMatchObject({ commandId: c.commandId, ok: true });
    expect(agent.got.map((g) => g.commandId)).toEqual([c.commandId]);
    await disconnect(managers[0]!, agent.sessionId);
  });

  it("a stream lost before the answer puts the command back: the host's next manager sends it", async () => {
    const [a, b] = [managers[0]!, managers[1]!];
    const mute = await connect(a, { mute: true });
    const c = command();
    const result = route(b, c, 5000);
    await expect.poll(() => mute.got.length, { timeout: 3000 }).toBe(1);
    await disconnect(a, mute.sessionId);
    await expect.poll(async () => (await row(c.commandId)).status, { timeout: 3000 }).toBe("routed");
    // The host reconnects to B (the sender itself): B takes it from the table like any holder.
    const again = await connect(b);
    expect(await result).toMatchObject({ commandId: c.commandId, ok: true });
    expect(again.got.map((g) => g.commandId)).toEqual([c.commandId]);
    await disconnect(b, again.sessionId);
  });
});
