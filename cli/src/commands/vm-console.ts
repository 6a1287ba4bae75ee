// orbit vm console <id>: the VM's serial console in this terminal. open-console answers a
// one-time WebSocket URL; stdin goes to the guest (raw, when it is a terminal), the guest's
// output to stdout. Ctrl-] detaches (as virsh console); close-console elsewhere ends it too.
import { StringDecoder } from "node:string_decoder";
import type { Command } from "commander";
import WebSocket from "ws";
import { type Context, parseId } from "../context.js";

/** Ctrl-]: leaves the console (the byte is not sent to the guest). */
const DETACH = 0x1d;

interface ConsoleAnswer {
  console: { url: string; expires_at: string };
}

/** Runs the session until it ends; resolves with why. */
export async function runConsole(c: Context, id: number): Promise<string> {
  const stdin = c.io.stdin ?? process.stdin;
  const r = await c.client.post<ConsoleAnswer>(`/core/virtual-machines/${id}/open-console`, undefined);
  const ws = new WebSocket(r.console.url);
  const decoder = new StringDecoder("utf8");
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === "function";
  return new Promise<string>((resolve, reject) => {
    let opened = false;
    const onInput = (chunk: Buffer | string) => {
      const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      const at = data.indexOf(DETACH);
      if (at >= 0) {
        if (at > 0) ws.send(data.subarray(0, at));
        ws.close(1000, "detached");
        return;
      }
      ws.send(data);
    };
    const cleanup = () => {
      stdin.off("data", onInput);
      if (raw) stdin.setRawMode!(false);
      stdin.pause();
    };
    ws.on("open", () => {
      opened = true;
      if (raw) stdin.setRawMode!(true);
      c.note(`connected to the console of VM ${id} (Ctrl-] to detach)`);
      stdin.on("data", onInput);
      stdin.resume();
    });
    ws.on("message", (data: Buffer) => { c.out.write(decoder.write(data)); });
    ws.on("unexpected-response", (_req, res) => {
      cleanup();
      reject(new Error(`the console URL was refused (HTTP ${res.statusCode})`));
    });
    ws.on("error", (e) => { if (!opened) { cleanup(); reject(e); } });
    ws.on("close", (_code, reason) => {
      cleanup();
      const tail = decoder.end();
      if (tail) c.out.write(tail);
      resolve(reason.toString() || "closed");
    });
  });
}

export function vmConsoleCommands(vm: Command, ctx: (cmd: Command) => Context): void {
  vm.command("console").description("attach to a running VM's serial console (Ctrl-] detaches)").argument("<id>", "VM id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const why = await runConsole(c, id);
      c.note(`\r\nconsole of VM ${id} closed: ${why}`);
    });
}
