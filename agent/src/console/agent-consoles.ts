// The agent's end of the interactive console sessions the manager multiplexes on the agent
// stream: ConsoleOpen attaches to the VM's serial console (capability "console"), its output goes
// back as ConsoleOutput, ConsoleInput is typed into it, and either side may end it. A session
// whose output the stream cannot carry fast enough is closed instead of buffering without bound.
import type { Logger } from "pino";
import { toErrorInfo } from "#shared/errors.js";
import type { AgentMessage, ConsoleInput, ConsoleOpen } from "#shared/protocol.js";
import { requireCapability, type ConsoleStream, type Hypervisor } from "../drivers/hypervisor.js";

/** Most bytes in one ConsoleOutput (the manager refuses larger). */
export const CONSOLE_CHUNK_BYTES = 64 * 1024;
/** Sessions per host at once: a manager asking for more is refused (each holds a socket). */
export const MAX_CONSOLE_SESSIONS = 64;

export interface ConsoleSink {
  /** Sends on the agent stream; answers how many bytes wait in the stream's buffer. */
  send(msg: AgentMessage): number;
}

export interface AgentConsolesOptions {
  hypervisor: Hypervisor;
  log: Logger;
  /** A session is closed when the stream has more than this many bytes waiting (default 1 MiB). */
  maxBufferedBytes?: number;
}

/**
 * A session whose console is still being attached. The manager's client may type at once (its
 * WebSocket is open before this host has connected): that input waits here and goes in first.
 */
class Opening {
  readonly input: Buffer[] = [];
  bytes = 0;
}

export class AgentConsoles {
  private readonly sessions = new Map<string, ConsoleStream | Opening>();
  private sink: ConsoleSink | undefined;

  constructor(private readonly o: AgentConsolesOptions) {}

  /** A new stream to the manager: sessions of the previous one are gone with it. */
  attach(sink: ConsoleSink | undefined): void {
    this.closeAll();
    this.sink = sink;
  }

  get open(): number {
    return this.sessions.size;
  }

  async onOpen(m: ConsoleOpen): Promise<void> {
    const sink = this.sink;
    if (!sink || this.sessions.has(m.sessionId)) return;
    if (this.sessions.size >= MAX_CONSOLE_SESSIONS) {
      this.closed(sink, m.sessionId, `this host has ${MAX_CONSOLE_SESSIONS} console sessions open already`);
      return;
    }
    const opening = new Opening();
    this.sessions.set(m.sessionId, opening);
    let stream: ConsoleStream;
    try {
      stream = await requireCapability(this.o.hypervisor, "console", "open a console").openConsole(m.vmUuid);
    } catch (e) {
      this.sessions.delete(m.sessionId);
      this.closed(sink, m.sessionId, (e as Error).message, e);
      return;
    }
    // Closed by the manager, or the stream went away, while it opened.
    if (this.sessions.get(m.sessionId) !== opening || this.sink !== sink) {
      stream.destroy();
      return;
    }
    this.sessions.set(m.sessionId, stream);
    for (const b of opening.input) stream.write(b);
    this.o.log.info({ session: m.sessionId, vm: m.vmUuid }, "console session opened");
    const limit = this.o.maxBufferedBytes ?? 1024 * 1024;
    stream.on("data", (chunk: Buffer | string) => {
      const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      for (let i = 0; i < data.length; i += CONSOLE_CHUNK_BYTES) {
        const buffered = sink.send({ body: { $case: "consoleOutput", value: { sessionId: m.sessionId, data: data.subarray(i, i + CONSOLE_CHUNK_BYTES) } } });
        if (buffered > limit) {
          this.end(m.sessionId, "the connection to the manager cannot keep up with the console output");
          return;
        }
      }
    });
    const ended = (why: string) => {
      if (this.sessions.get(m.sessionId) !== stream) return;
      this.sessions.delete(m.sessionId);
      this.closed(sink, m.sessionId, why);
    };
    stream.once("end", () => ended("the console closed (the VM stopped?)"));
    stream.once("close", () => ended("the console closed"));
    stream.once("error", (e) => ended(`console error: ${e.message}`));
  }

  onInput(m: ConsoleInput): void {
    const s = this.sessions.get(m.sessionId);
    if (!s) return;
    // Typing faster than the guest reads is the user's problem, but memory is ours.
    const waiting = s instanceof Opening ? s.bytes : s.writableLength;
    if (waiting > (this.o.maxBufferedBytes ?? 1024 * 1024)) {
      this.end(m.sessionId, "the console does not read its input fast enough");
      return;
    }
    if (s instanceof Opening) {
      s.input.push(m.data);
      s.bytes += m.data.length;
    } else {
      s.write(m.data);
    }
  }

  /** The manager ended the session: no ConsoleClosed goes back. */
  onClose(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    if (s && !(s instanceof Opening)) s.destroy();
  }

  /** Ends a session from this side and tells the manager why. */
  private end(sessionId: string, why: string): void {
    const s = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    if (s && !(s instanceof Opening)) s.destroy();
    if (this.sink) this.closed(this.sink, sessionId, why);
  }

  private closed(sink: ConsoleSink, sessionId: string, reason: string, error?: unknown): void {
    this.o.log.info({ session: sessionId, reason }, "console session closed");
    sink.send({ body: { $case: "consoleClosed", value: { sessionId, reason, error: error === undefined ? undefined : toErrorInfo(error) } } });
  }

  closeAll(): void {
    for (const [id, s] of [...this.sessions]) {
      this.sessions.delete(id);
      if (!(s instanceof Opening)) s.destroy();
    }
  }
}
