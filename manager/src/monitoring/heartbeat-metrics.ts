// Heartbeat lag per host, measured where the gateway hands a heartbeat to its handler: after the
// messages of the same stream before it, so the lag includes this manager falling behind.
import type { HostStreamHandler } from "../agents/agent-gateway.js";

export interface HeartbeatMetrics {
  heartbeat(hostId: number, sentAtMs: number, receivedAtMs: number): void;
  hostDisconnected(hostId: number): void;
}

/** The same handler, with each heartbeat's lag recorded and a host's series removed when its stream closes. */
export function withHeartbeatMetrics(next: HostStreamHandler, metrics: HeartbeatMetrics, now: () => number = Date.now): HostStreamHandler {
  return {
    onConnected: (hostId) => next.onConnected(hostId),
    onHeartbeat: (hostId, hb) => {
      metrics.heartbeat(hostId, Number(hb.sentAtMs), now());
      return next.onHeartbeat(hostId, hb);
    },
    onDomainEvent: (hostId, e) => next.onDomainEvent(hostId, e),
    onLateResult: (hostId, r) => next.onLateResult(hostId, r),
    onDisconnected: (hostId) => {
      metrics.hostDisconnected(hostId);
      return next.onDisconnected(hostId);
    },
  };
}
