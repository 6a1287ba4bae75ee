import { describe, expect, it, vi } from "vitest";
import { StreamInbox } from "./stream-inbox.js";

type Msg = { kind: "hb" | "result"; n: number };
const hb = (n: number): Msg => ({ kind: "hb", n });
const result = (n: number): Msg => ({ kind: "result", n });

/** An inbox whose handler blocks until released, recording what it handled. */
function blockedInbox(max = 4, resumeAt = 2) {
  const handled: string[] = [];
  let release!: () => void;
  let gate = new Promise<void>((r) => { release = r; });
  const pause = vi.fn(), resume = vi.fn(), failed = vi.fn();
  const observer = { heartbeatCoalesced: vi.fn(), streamPaused: vi.fn() };
  const inbox = new StreamInbox<Msg>({
    isHeartbeat: (m) => m.kind === "hb",
    handle: async (m) => {
      await gate;
      if (m.n < 0) throw new Error("bad message");
      handled.push(`${m.kind}${m.n}`);
    },
    failed, pause, resume, maxQueued: max, resumeAt, observer,
  });
  return {
    inbox, handled, pause, resume, failed, observer,
    open: async () => { release(); await inbox.idle(); },
    block: () => { gate = new Promise<void>((r) => { release = r; }); },
  };
}

describe("StreamInbox", () => {
  it("keeps only the newest waiting heartbeat, after every message that came before it", async () => {
    const b = blockedInbox(100);
    b.inbox.push(result(0)); // being handled (blocked)
    b.inbox.push(result(1));
    b.inbox.push(hb(1));
    b.inbox.push(hb(2));
    b.inbox.push(result(2));
    b.inbox.push(hb(3));
    expect(b.inbox.size()).toBe(3); // result1, result2, hb3 wait
    await b.open();
    expect(b.handled).toEqual(["result0", "result1", "result2", "hb3"]);
    expect(b.observer.heartbeatCoalesced).toHaveBeenCalledTimes(2);
  });

  it("stays bounded while its handler is stuck: any number of heartbeats is one waiting", async () => {
    const b = blockedInbox(100);
    b.inbox.push(result(0));
    for (let i = 1; i <= 10_000; i++) b.inbox.push(hb(i));
    expect(b.inbox.size()).toBe(1);
    await b.open();
    expect(b.handled).toEqual(["result0", "hb10000"]);
  });

  it("pauses the stream when other messages reach the bound and resumes it once drained to resumeAt", async () => {
    const b = blockedInbox(4, 2);
    b.inbox.push(result(0)); // handled at once (blocked), not waiting
    for (let i = 1; i <= 3; i++) b.inbox.push(result(i));
    expect(b.pause).not.toHaveBeenCalled();
    b.inbox.push(result(4)); // the 4th waiting
    expect(b.pause).toHaveBeenCalledTimes(1);
    expect(b.inbox.isPaused()).toBe(true);
    b.inbox.push(result(5)); // read before the pause took hold: still kept
    expect(b.pause).toHaveBeenCalledTimes(1);
    await b.open();
    expect(b.resume).toHaveBeenCalledTimes(1);
    expect(b.inbox.isPaused()).toBe(false);
    expect(b.handled).toEqual([0, 1, 2, 3, 4, 5].map((n) => `result${n}`));
    expect(b.observer.streamPaused.mock.calls).toEqual([[true], [false]]);
  });

  it("runs tasks in order with messages, and goes on after a handler fails", async () => {
    const b = blockedInbox(100);
    const order: string[] = [];
    b.inbox.then(async () => { order.push("connected"); });
    b.inbox.push(result(-1));
    b.inbox.push(result(1));
    b.inbox.then(async () => { order.push(`disconnected after ${b.handled.join(",")}`); });
    await b.open();
    expect(order).toEqual(["connected", "disconnected after result1"]);
    expect(b.failed).toHaveBeenCalledTimes(1);
  });
});
