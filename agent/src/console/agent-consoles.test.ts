// Console sessions on the agent, against the simulator's console: the simulated shell answers
// through ConsoleOutput, the sessions end with the VM, refusals come back as ConsoleClosed with
// the error, and a stream that cannot carry the output closes the session.
import { randomUUID } from "node:crypto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { PowerState, StopMode, VmSpec, type AgentMessage } from "#shared/protocol.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import { AgentConsoles, type ConsoleSink } from "./agent-consoles.js";

const log = pino({ level: "silent" });

async function setup(o: { buffered?: number; capabilities?: ("console" | "power")[] } = {}) {
  const hv = new SimulatorHypervisor({
    hostUuid: "5e1a0000-0000-4000-8000-0000000000cc", hostname: "sim", cpus: 8, memoryMib: 4096, startDelayMs: 0,
    ...(o.capabilities ? { capabilities: o.capabilities } : {}),
  });
  const vmUuid = randomUUID();
  await hv.startVm(VmSpec.fromPartial({ vmUuid, name: "box", vcpus: 1, memoryMib: 512 }));
  const sent: AgentMessage[] = [];
  const sink: ConsoleSink = { send: (m) => { sent.push(m); return o.buffered ?? 0; } };
  const consoles = new AgentConsoles({ hypervisor: hv, log, maxBufferedBytes: 1000 });
  consoles.attach(sink);
  const output = (sessionId: string) => sent
    .filter((m) => m.body?.$case === "consoleOutput" && m.body.value.sessionId === sessionId)
    .map((m) => (m.body?.$case === "consoleOutput" ? m.body.value.data.toString() : "")).join("");
  const closed = (sessionId: string) => sent.flatMap((m) => (m.body?.$case === "consoleClosed" && m.body.value.sessionId === sessionId ? [m.body.value] : []));
  return { hv, vmUuid, consoles, sent, output, closed };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("AgentConsoles", () => {
  it("relays the simulated shell: a prompt, the echo and uname's answer", async () => {
    const { vmUuid, consoles, output, closed } = await setup();
    await consoles.onOpen({ sessionId: "s1", vmUuid });
    await tick();
    expect(output("s1")).toContain("root@box:~# ");
    consoles.onInput({ sessionId: "s1", data: Buffer.from("uname\n") });
    await tick();
    expect(output("s1")).toMatch(/uname\r\nLinux\r\nroot@box:~# $/);
    // Input for a session that does not exist goes nowhere.
    consoles.onInput({ sessionId: "other", data: Buffer.from("x") });
    consoles.onClose("s1");
    await tick();
    expect(consoles.open).toBe(0);
    // The manager closed it: no ConsoleClosed back.
    expect(closed("s1")).toEqual([]);
  });

  it("keeps what is typed while the console is still being attached and types it in first", async () => {
    const { vmUuid, consoles, output, closed } = await setup();
    // The manager's client may type as soon as its WebSocket is open, before this host has attached.
    const opened = consoles.onOpen({ sessionId: "early", vmUuid });
    consoles.onInput({ sessionId: "early", data: Buffer.from("una") });
    consoles.onInput({ sessionId: "early", data: Buffer.from("me\n") });
    await opened;
    await tick();
    expect(output("early")).toMatch(/uname\r\nLinux\r\n/);
    expect(closed("early")).toEqual([]);
  });

  it("closes a session typed into faster than its console attaches, past the buffer limit", async () => {
    const { vmUuid, consoles, closed } = await setup();
    const opened = consoles.onOpen({ sessionId: "flood", vmUuid });
    consoles.onInput({ sessionId: "flood", data: Buffer.alloc(1001, 0x61) });
    consoles.onInput({ sessionId: "flood", data: Buffer.from("x") });
    await opened;
    expect(closed("flood")[0]?.reason).toMatch(/does not read its input fast enough/);
    expect(consoles.open).toBe(0);
  });

  it("ends the session with a ConsoleClosed when the VM stops", async () => {
    const { hv, vmUuid, consoles, closed } = await setup();
    await consoles.onOpen({ sessionId: "s2", vmUuid });
    await hv.stopVm(vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await tick();
    expect(closed("s2")).toHaveLength(1);
    expect(closed("s2")[0]!.reason).toMatch(/console closed/);
    expect(consoles.open).toBe(0);
  });

  it("answers ConsoleClosed with the error for a VM that is not running, unknown, or a host without the capability", async () => {
    const { hv, vmUuid, consoles, closed } = await setup();
    await hv.stopVm(vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    expect((await hv.listDomains())[0]!.powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    await consoles.onOpen({ sessionId: "off", vmUuid });
    expect(closed("off")[0]!.error).toMatchObject({ code: "conflict" });
    await consoles.onOpen({ sessionId: "none", vmUuid: randomUUID() });
    expect(closed("none")[0]!.error).toMatchObject({ code: "not_found" });
    const bare = await setup({ capabilities: ["power"] });
    await bare.consoles.onOpen({ sessionId: "cap", vmUuid: bare.vmUuid });
    expect(bare.closed("cap")[0]!.error).toMatchObject({ code: "unsupported" });
  });

  it("closes a session whose output the stream cannot carry, instead of buffering it", async () => {
    const { vmUuid, consoles, closed } = await setup({ buffered: 5000 });
    await consoles.onOpen({ sessionId: "slow", vmUuid });
    await tick();
    expect(closed("slow")[0]?.reason).toMatch(/cannot keep up/);
    expect(consoles.open).toBe(0);
  });

  it("drops every session when the stream to the manager goes", async () => {
    const { vmUuid, consoles } = await setup();
    await consoles.onOpen({ sessionId: "a", vmUuid });
    await consoles.onOpen({ sessionId: "b", vmUuid });
    expect(consoles.open).toBe(2);
    consoles.attach(undefined);
    expect(consoles.open).toBe(0);
    // Without a stream, an open is ignored.
    await consoles.onOpen({ sessionId: "c", vmUuid });
    expect(consoles.open).toBe(0);
  });
});
