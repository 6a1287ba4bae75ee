// The simulator's interactive serial console: a tiny shell behind a login prompt's place, so a
// console session can be tested end to end without a guest. It echoes what is typed (as a tty
// does), answers a few commands with fixed lines and prints a prompt after each line.
import { Duplex } from "node:stream";

/** What the simulated shell answers (anything else: "<cmd>: command not found"). */
export const SIMULATED_COMMANDS: Record<string, string> = {
  uname: "Linux",
  "uname -a": "Linux orbit-sim 6.1.0-orbit #1 SMP x86_64 GNU/Linux",
  whoami: "root",
};

/** Longest line the shell keeps (a line longer than this is cut, as a tty's line buffer would). */
const MAX_LINE = 4096;

export class SimulatedConsole extends Duplex {
  private line = "";

  constructor(private readonly hostname: string) {
    super();
    this.push(`\r\nOrbit simulated console of ${hostname}\r\n${this.prompt()}`);
  }

  private prompt(): string {
    return `root@${this.hostname}:~# `;
  }

  override _read(): void {
    // Output is pushed as input arrives; nothing to pull.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    let out = "";
    for (const ch of chunk.toString("utf8")) {
      if (ch === "\r" || ch === "\n") {
        const cmd = this.line.trim();
        this.line = "";
        out += "\r\n";
        if (cmd) out += `${SIMULATED_COMMANDS[cmd] ?? `${cmd.split(/\s+/)[0]}: command not found`}\r\n`;
        out += this.prompt();
      } else if (ch === "\u007f" || ch === "\b") {
        if (this.line) { this.line = this.line.slice(0, -1); out += "\b \b"; }
      } else if (this.line.length < MAX_LINE) {
        this.line += ch;
        out += ch;
      }
    }
    if (out) this.push(out);
    done();
  }

  override _final(done: (e?: Error | null) => void): void {
    this.push(null);
    done();
  }

  /** The VM stopped: the console ends as a detached pty would. */
  hangUp(): void {
    this.push(null);
    this.destroy();
  }
}
