// A WebSocket client of the console URL open-console hands out (e2e and real-libvirt tiers).
import WebSocket from "ws";

/** A console connection: everything received so far, as text, and how it ended. */
export interface ConsoleConnection {
  ws: WebSocket;
  text(): string;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens the console; rejects with "refused: HTTP <status>" when the manager turns it away. */
export function connectConsole(url: string): Promise<ConsoleConnection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let received = "";
    ws.on("message", (d: Buffer) => { received += d.toString("utf8"); });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
    ws.once("open", () => resolve({ ws, text: () => received, closed }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`refused: HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}
