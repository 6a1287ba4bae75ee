// A console WebSocket that reached a manager not holding the VM's host stream (several managers
// behind a load balancer) is forwarded to the manager that holds it: bytes both ways between the
// user's socket and a socket to that manager's /v1/console/{token}, which consumes the token and
// relays to the agent. The forwarding manager never consumes the token, so it stays one-time.
import WebSocket from "ws";

/** Set on a forwarded socket: the receiving manager serves it itself, never forwards it again (no loops). */
export const FORWARDED_HEADER = "x-orbit-console-forwarded";

/** WebSocket close reasons are at most 123 bytes. */
export function closeReason(reason: string): string {
  const b = Buffer.from(reason);
  return b.length <= 123 ? reason : b.subarray(0, 120).toString("utf8").replace(/\uFFFD$/, "") + "...";
}

/** 1005 and 1006 are never sent on the wire: a peer that closed without a code ended normally or failed. */
function sendableCode(code: number): number {
  if (code === 1005) return 1000;
  if (code === 1006) return 1011;
  return code;
}

const toBuffer = (data: WebSocket.RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

/**
 * Pipes `client` to `url` (ws://other-manager/v1/console/TOKEN). Input typed before the other
 * socket opens waits (bounded); a client that does not keep up with the output is disconnected.
 */
export function forwardConsole(client: WebSocket, url: string, o: { maxBufferedBytes?: number } = {}): void {
  const limit = o.maxBufferedBytes ?? 1024 * 1024;
  const upstream = new WebSocket(url, { headers: { [FORWARDED_HEADER]: "1" } });
  const waiting: Buffer[] = [];
  let waitingBytes = 0;
  let ended = false;
  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    if (client.readyState === WebSocket.OPEN) client.close(sendableCode(code), closeReason(reason));
    if (upstream.readyState === WebSocket.OPEN) upstream.close(1000, "the client went away");
    else if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
  };
  client.on("message", (data: WebSocket.RawData) => {
    const buf = toBuffer(data);
    if (upstream.readyState === WebSocket.OPEN) {
      if (upstream.bufferedAmount > limit) { end(1011, "the VM's manager does not take the console input fast enough"); return; }
      upstream.send(buf, { binary: true });
    } else if (upstream.readyState === WebSocket.CONNECTING) {
      waitingBytes += buf.length;
      if (waitingBytes > limit) { end(1011, "too much console input before the VM's manager answered"); return; }
      waiting.push(buf);
    }
  });
  client.on("close", () => end(1000, "the client went away"));
  upstream.on("open", () => {
    for (const b of waiting) upstream.send(b, { binary: true });
    waiting.length = 0;
  });
  upstream.on("message", (data: WebSocket.RawData) => {
    if (client.bufferedAmount > limit) { end(1011, "the client does not read the console output fast enough"); return; }
    client.send(toBuffer(data), { binary: true });
  });
  upstream.on("close", (code: number, reason: Buffer) => end(code, reason.toString("utf8") || "the console ended"));
  upstream.on("unexpected-response", (_req, res) => end(1008, `the VM's manager refused the console (HTTP ${res.statusCode}): ask open-console for a new URL`));
  upstream.on("error", (e: Error) => end(1011, `the VM's manager cannot be reached: ${e.message}`));
}
