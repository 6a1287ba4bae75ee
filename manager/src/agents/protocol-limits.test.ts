import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { VmStats, type AgentMessage } from "#shared/protocol.js";
import { PROTOCOL_LIMITS, checkAgentMessageBounds } from "./protocol-limits.js";

const report = (samples: number, stats = VmStats.fromPartial({})): AgentMessage => ({
  body: { $case: "vmStatsReport", value: { sampledAtMs: 1, samples: Array.from({ length: samples }, () => ({ vmUuid: "x", stats })) } },
});

describe("protocol limits of VM stats reports and console logs", () => {
  it("accepts a report within the limits and refuses more VMs, or more devices per VM, naming the field", () => {
    expect(() => checkAgentMessageBounds(report(PROTOCOL_LIMITS.samplesPerStatsReport))).not.toThrow();
    expect(() => checkAgentMessageBounds(report(PROTOCOL_LIMITS.samplesPerStatsReport + 1))).toThrow(/vm_stats_report\.samples has 2049 entries/);
    const manyDisks = VmStats.fromPartial({ blocks: Array.from({ length: PROTOCOL_LIMITS.statsDevices + 1 }, () => ({ name: "vda" })) });
    expect(() => checkAgentMessageBounds(report(1, manyDisks))).toThrow(InvalidArgumentError);
    expect(() => checkAgentMessageBounds(report(1, manyDisks))).toThrow(/vm_stats_report\.samples\.stats\.blocks/);
  });

  it("refuses a console log answer over its byte limit", () => {
    const answer = (text: string): AgentMessage => ({
      body: { $case: "commandResult", value: { commandId: "c", ok: true, error: undefined, domain: undefined, output: { $case: "consoleLog", value: { text, truncated: false } } } },
    });
    expect(() => checkAgentMessageBounds(answer("a".repeat(PROTOCOL_LIMITS.consoleLogBytes)))).not.toThrow();
    expect(() => checkAgentMessageBounds(answer("é".repeat(PROTOCOL_LIMITS.consoleLogBytes / 2 + 1)))).toThrow(/console_log\.text/);
  });

  it("refuses console output over 64 KiB per message and an over-long close reason", () => {
    const output = (bytes: number): AgentMessage => ({ body: { $case: "consoleOutput", value: { sessionId: "s", data: Buffer.alloc(bytes, 0x61) } } });
    expect(() => checkAgentMessageBounds(output(PROTOCOL_LIMITS.consoleChunkBytes))).not.toThrow();
    expect(() => checkAgentMessageBounds(output(PROTOCOL_LIMITS.consoleChunkBytes + 1))).toThrow(/console_output\.data/);
    const closed = (reason: string): AgentMessage => ({ body: { $case: "consoleClosed", value: { sessionId: "s", reason, error: undefined } } });
    expect(() => checkAgentMessageBounds(closed("the VM stopped"))).not.toThrow();
    expect(() => checkAgentMessageBounds(closed("x".repeat(PROTOCOL_LIMITS.longStringChars + 1)))).toThrow(/console_closed\.reason/);
  });
});
