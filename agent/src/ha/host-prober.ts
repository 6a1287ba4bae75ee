// Answers ProbeHost: is a neighbour (another host of this cluster, which the manager no longer
// hears from) alive, as this host sees it?
//
// Network: an ICMP echo (`ping -c 1`) and a TCP connect to its SSH port, at the same time; either
// answering makes it reachable. Both are answered by the machine's kernel, not by its agent: a
// host whose agent process died but whose machine runs says "reachable" (so the manager does not
// restart its VMs: inconclusive), and one whose network is cut answers neither. On TCP, a refused
// connection (RST) proves the host up as much as an accepted one: any port would do, and 22 is one
// that host firewalls leave open. Ping alone can be filtered or lack its raw-socket right; TCP alone
// can meet a firewall that drops closed ports: together they rarely both miss a live host.
// Storage: the age of its heartbeat file in this host's own storage_heartbeat_dir.
import { Socket } from "node:net";
import { execa } from "execa";
import { InvalidArgumentError } from "#shared/errors.js";
import type { ProbeHost, ProbeResult } from "#shared/protocol.js";
import { readStorageHeartbeat, type HeartbeatFs } from "./storage-heartbeat.js";

export const DEFAULT_PROBE_TIMEOUT_MS = 2_000;
export const MAX_PROBE_TIMEOUT_MS = 30_000;
export const PROBE_TCP_PORT = 22;

/** An IP address or a DNS name: never an option for ping (no leading "-"), never a URL. */
const ADDRESS = /^[A-Za-z0-9_.:[\]%-]+$/;
/** Names a file in the heartbeat dir: nothing but a UUID may (no "../"). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NetworkAnswer {
  reachable: boolean;
  detail: string;
}

/** One ICMP echo; false when it gets no answer within timeoutMs or ping cannot run. */
export async function pingOnce(address: string, timeoutMs: number): Promise<NetworkAnswer> {
  // iputils' -W takes seconds (fractions on recent versions only); execa's timeout bounds the rest.
  const waitS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const r = await execa("ping", ["-n", "-c", "1", "-W", String(waitS), "--", address], { reject: false, timeout: timeoutMs + 500 });
  if (r.exitCode === 0) return { reachable: true, detail: "ping answered" };
  const why = (r.stderr || r.stdout.split("\n").find((l) => /loss|unreachable/i.test(l)) || `exit ${r.exitCode ?? r.signal}`).trim();
  return { reachable: false, detail: `ping: ${r.timedOut ? "no answer in time" : why}` };
}

/** A TCP connect: accepted or refused (RST) means the host is up; a timeout or unreachable network does not. */
export function tcpKnock(address: string, port: number, timeoutMs: number): Promise<NetworkAnswer> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (a: NetworkAnswer) => { clearTimeout(timer); s.destroy(); resolve(a); };
    const timer = setTimeout(() => done({ reachable: false, detail: `tcp ${port}: no answer within ${timeoutMs} ms` }), timeoutMs);
    s.once("connect", () => done({ reachable: true, detail: `tcp ${port}: connected` }));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED"
      ? { reachable: true, detail: `tcp ${port}: refused (the host answered)` }
      : { reachable: false, detail: `tcp ${port}: ${e.code ?? e.message}` }));
    s.connect({ host: address, port });
  });
}

export interface HostProberOptions {
  /** This host's storage_heartbeat_dir; undefined: it has none, so it cannot see neighbours' heartbeats. */
  heartbeatDir: string | undefined;
  tcpPort?: number;
  fs?: HeartbeatFs;
  now?: () => number;
  /** For tests: the network checks. */
  ping?: (address: string, timeoutMs: number) => Promise<NetworkAnswer>;
  knock?: (address: string, port: number, timeoutMs: number) => Promise<NetworkAnswer>;
}

export class HostProber {
  constructor(private readonly o: HostProberOptions) {}

  async probe(p: ProbeHost): Promise<ProbeResult> {
    if (!UUID.test(p.hostUuid)) throw new InvalidArgumentError("probe_host.host_uuid", `"${p.hostUuid}" is not a host UUID`);
    if (!ADDRESS.test(p.address) || p.address.startsWith("-")) {
      throw new InvalidArgumentError("probe_host.address", `"${p.address}" is not an IP address or host name`);
    }
    if (p.timeoutMs > MAX_PROBE_TIMEOUT_MS) {
      throw new InvalidArgumentError("probe_host.timeout_ms", `a probe waits at most ${MAX_PROBE_TIMEOUT_MS} ms; ${p.timeoutMs} asked`);
    }
    const timeoutMs = p.timeoutMs || DEFAULT_PROBE_TIMEOUT_MS;
    const address = p.address.replace(/^\[(.*)\]$/, "$1");
    const port = this.o.tcpPort ?? PROBE_TCP_PORT;
    const [ping, knock, heartbeat] = await Promise.all([
      (this.o.ping ?? pingOnce)(address, timeoutMs).catch((e: Error) => ({ reachable: false, detail: `ping failed: ${e.message}` })),
      (this.o.knock ?? tcpKnock)(address, port, timeoutMs),
      this.o.heartbeatDir
        ? readStorageHeartbeat({ dir: this.o.heartbeatDir, hostUuid: p.hostUuid, timeoutMs, ...(this.o.fs ? { fs: this.o.fs } : {}), ...(this.o.now ? { now: this.o.now } : {}) })
        : Promise.resolve({ seen: false, ageMs: -1, detail: "this host has no storage heartbeat dir" }),
    ]);
    return {
      reachable: ping.reachable || knock.reachable,
      storageHeartbeatSeen: heartbeat.seen,
      storageHeartbeatAgeMs: heartbeat.ageMs,
      detail: `${p.address}: ${ping.detail}; ${knock.detail}. ${heartbeat.detail}`,
    };
  }
}
