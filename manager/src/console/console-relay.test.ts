import { describe, expect, it } from "vitest";
import type { ManagerMessage } from "#shared/protocol.js";
import { ConsoleRelay, type ConsoleClient } from "./console-relay.js";

const target = { vmId: 1, vmUuid: "u-1", hostId: 5 };

function setup(connected = true, agentBuffered = { bytes: 0 }) {
  const toAgent: ManagerMessage[] = [];
  const relay = new ConsoleRelay({
    sendToAgent: (_h, m) => { if (connected) toAgent.push(m); return connected; },
    agentBufferedBytes: () => agentBuffered.bytes,
    maxBufferedBytes: 10,
  });
  const client = { sent: [] as string[], buffered: 0, closedWith: undefined as string | undefined };
  const c: ConsoleClient = {
    send: (d) => { client.sent.push(d.toString()); },
    bufferedBytes: () => client.buffered,
    close: (r) => { client.closedWith = r; },
  };
  return { relay, toAgent, client, c };
}

describe("ConsoleRelay", () => {
  it("opens the session on the host's stream and relays bytes both ways", () => {
    const { relay, toAgent, client, c } = setup();
    const id = relay.open(target, c)!;
    expect(toAgent[0]).toEqual({ body: { $case: "consoleOpen", value: { sessionId: id, vmUuid: "u-1" } } });
    relay.input(id, Buffer.from("ls\n"));
    expect(toAgent[1]?.body).toMatchObject({ $case: "consoleInput", value: { sessionId: id } });
    relay.output(5, { sessionId: id, data: Buffer.from("hello") });
    // Output claiming another host's session is ignored.
    relay.output(6, { sessionId: id, data: Buffer.from("forged") });
    expect(client.sent).toEqual(["hello"]);
  });

  it("closes the client at once when the host has no stream", () => {
    const { relay, client, c } = setup(false);
    expect(relay.open(target, c)).toBeUndefined();
    expect(client.closedWith).toMatch(/not connected/);
    expect(relay.openSessions()).toBe(0);
  });

  it("disconnects a client that does not read its output, and tells the agent", () => {
    const { relay, toAgent, client, c } = setup();
    const id = relay.open(target, c)!;
    client.buffered = 11;
    relay.output(5, { sessionId: id, data: Buffer.from("more") });
    expect(client.sent).toEqual([]);
    expect(client.closedWith).toMatch(/fast enough/);
    expect(toAgent.at(-1)).toEqual({ body: { $case: "consoleClose", value: { sessionId: id } } });
    expect(relay.openSessions()).toBe(0);
  });

  it("ends sessions when the agent closes them, when the host goes away and on close-console", () => {
    const { relay, toAgent, c } = setup();
    const closed: string[] = [];
    const client = (name: string): ConsoleClient => ({ ...c, close: (r) => closed.push(`${name}: ${r}`) });
    const a = relay.open(target, client("a"))!;
    relay.open({ ...target, vmId: 3, hostId: 6 }, client("b"));
    relay.open({ ...target, vmId: 2 }, client("c"));
    relay.closedByAgent(5, { sessionId: a, reason: "the VM stopped", error: undefined });
    relay.hostGone(6);
    expect(relay.closeVm(2)).toBe(1);
    expect(closed).toEqual(["a: the VM stopped", "b: the VM's host disconnected", "c: the console was closed"]);
    // Only close-console told the agent (the agent ended a, b's stream is gone).
    expect(toAgent.filter((m) => m.body?.$case === "consoleClose")).toHaveLength(1);
    expect(relay.openSessions()).toBe(0);
  });

  it("tells the agent when the client goes away", () => {
    const { relay, toAgent, c } = setup();
    const id = relay.open(target, c)!;
    relay.clientGone(id);
    relay.clientGone(id);
    expect(toAgent.filter((m) => m.body?.$case === "consoleClose")).toEqual([{ body: { $case: "consoleClose", value: { sessionId: id } } }]);
  });

  it("keeps one session per VM: a new one takes over from the one before", () => {
    const { relay, toAgent, c } = setup();
    const closed: string[] = [];
    const first = relay.open(target, { ...c, close: (r) => closed.push(r) })!;
    const second = relay.open(target, c)!;
    expect(closed).toEqual(["another console connection to this VM took over"]);
    // The agent is told to detach the first before it attaches the second.
    expect(toAgent.map((m) => m.body?.$case)).toEqual(["consoleOpen", "consoleClose", "consoleOpen"]);
    expect(toAgent[1]).toEqual({ body: { $case: "consoleClose", value: { sessionId: first } } });
    expect(relay.openSessions(1)).toBe(1);
    expect(second).not.toBe(first);
  });

  it("closes a session whose host does not take the input fast enough", () => {
    const agentBuffered = { bytes: 0 };
    const { relay, toAgent, client, c } = setup(true, agentBuffered);
    const id = relay.open(target, c)!;
    relay.input(id, Buffer.from("a"));
    agentBuffered.bytes = 11;
    relay.input(id, Buffer.from("b"));
    expect(toAgent.filter((m) => m.body?.$case === "consoleInput")).toHaveLength(1);
    expect(client.closedWith).toMatch(/input fast enough/);
    expect(relay.openSessions()).toBe(0);
  });
});
