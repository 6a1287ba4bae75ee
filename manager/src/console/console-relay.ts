// Console sessions between WebSocket clients and agents: each session is a client on this side
// and a ConsoleOpen on the host's agent stream, bytes relayed both ways. A session ends when
// either side goes away (client, agent, host stream, or close-console), and a client that cannot
// keep up with the output is disconnected rather than buffered for without bound.
import { randomUUID } from "node:crypto";
import type { ConsoleClosed, ConsoleOutput, ManagerMessage } from "#shared/protocol.js";
import type { ConsoleTarget } from "./console-tokens.js";

/** The user's end of a session (a WebSocket). */
export interface ConsoleClient {
  send(data: Buffer): void;
  /** Bytes accepted by send and not yet written to the network. */
  bufferedBytes(): number;
  /** Ends the client's connection, saying why. */
  close(reason: string): void;
}

export interface ConsoleRelayOptions {
  /** Writes to the host's agent stream; false when the host has no stream on this manager. */
  sendToAgent(hostId: number, msg: ManagerMessage): boolean;
  /** Bytes waiting in the host's stream to the agent (input a slow host has not taken yet). */
  agentBufferedBytes?(hostId: number): number;
  /** A client with more output than this waiting, or whose host has more input than this waiting, is disconnected (default 1 MiB). */
  maxBufferedBytes?: number;
}

interface Session extends ConsoleTarget {
  id: string;
  client: ConsoleClient;
}

export class ConsoleRelay {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly o: ConsoleRelayOptions) {}

  /**
   * Opens a session to the target's agent; undefined (and the client closed) when the host has
   * no stream here. A VM has one console session at a time (a serial port has one reader; QEMU's
   * socket serves one client): a new one takes over from the one before, as `virsh console --force`.
   */
  open(target: ConsoleTarget, client: ConsoleClient): string | undefined {
    this.closeVm(target.vmId, "another console connection to this VM took over");
    const id = randomUUID();
    this.sessions.set(id, { ...target, id, client });
    if (!this.o.sendToAgent(target.hostId, { body: { $case: "consoleOpen", value: { sessionId: id, vmUuid: target.vmUuid } } })) {
      this.sessions.delete(id);
      client.close("the VM's host is not connected");
      return undefined;
    }
    return id;
  }

  /** Bytes the user typed. */
  input(sessionId: string, data: Buffer): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    if ((this.o.agentBufferedBytes?.(s.hostId) ?? 0) > this.limit()) {
      this.end(s, "the VM's host does not take the console input fast enough", true);
      return;
    }
    this.o.sendToAgent(s.hostId, { body: { $case: "consoleInput", value: { sessionId, data } } });
  }

  private limit(): number {
    return this.o.maxBufferedBytes ?? 1024 * 1024;
  }

  /** The client went away: the agent detaches. */
  clientGone(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.sessions.delete(sessionId);
    this.o.sendToAgent(s.hostId, { body: { $case: "consoleClose", value: { sessionId } } });
  }

  /** Output from a host's agent (only for sessions on that host). */
  output(hostId: number, m: ConsoleOutput): void {
    const s = this.sessions.get(m.sessionId);
    if (!s || s.hostId !== hostId) return;
    if (s.client.bufferedBytes() > this.limit()) {
      this.end(s, "the client does not read the console output fast enough", true);
      return;
    }
    s.client.send(m.data);
  }

  /** The agent ended a session. */
  closedByAgent(hostId: number, m: ConsoleClosed): void {
    const s = this.sessions.get(m.sessionId);
    if (!s || s.hostId !== hostId) return;
    this.end(s, m.reason || "the console closed", false);
  }

  /** The host's stream is gone: its sessions end. */
  hostGone(hostId: number): void {
    for (const s of [...this.sessions.values()]) if (s.hostId === hostId) this.end(s, "the VM's host disconnected", false);
  }

  /** close-console: every session of the VM ends. Returns how many. */
  closeVm(vmId: number, reason = "the console was closed"): number {
    const of = [...this.sessions.values()].filter((s) => s.vmId === vmId);
    for (const s of of) this.end(s, reason, true);
    return of.length;
  }

  openSessions(vmId?: number): number {
    return [...this.sessions.values()].filter((s) => vmId === undefined || s.vmId === vmId).length;
  }

  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.end(s, "the manager is stopping", true);
  }

  private end(s: Session, reason: string, tellAgent: boolean): void {
    this.sessions.delete(s.id);
    if (tellAgent) this.o.sendToAgent(s.hostId, { body: { $case: "consoleClose", value: { sessionId: s.id } } });
    s.client.close(reason);
  }
}
