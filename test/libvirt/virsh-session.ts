// One long-lived interactive `virsh` per daemon, fed commands on stdin: well under a millisecond a
// command instead of a process start (tens of ms, hundreds on a loaded machine), so a poller can
// list domains every 200 ms. Commands run one at a time; each is followed by `echo MARKER`, and its
// output is what virsh printed before the marker. Anything on stderr (read up to 5 ms after the
// marker: another pipe) fails the command.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";

interface Pending {
  resolve(out: string): void;
  reject(e: Error): void;
}

export class VirshSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly marker = `virsh-session-done-${randomUUID()}`;
  private out = "";
  private err = "";
  private pending: Pending | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private exited = false;

  constructor(readonly uri: string) {
    this.child = spawn("virsh", ["-q", "-c", uri], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    this.child.stdout.on("data", (d: Buffer) => { this.out += d.toString(); this.settle(); });
    this.child.stderr.on("data", (d: Buffer) => { this.err += d.toString(); });
    this.child.once("exit", (code) => {
      this.exited = true;
      this.pending?.reject(new Error(`virsh -c ${uri} exited (${code}): ${this.err.trim()}`));
      this.pending = undefined;
    });
  }

  /** The output of one virsh command (its arguments as one line, no quoting needed for these tests). */
  run(command: string): Promise<string> {
    const p = this.tail.then(() => new Promise<string>((resolve, reject) => {
      if (this.exited) return reject(new Error(`virsh -c ${this.uri} has exited: ${this.err.trim()}`));
      this.out = "";
      this.err = "";
      this.pending = { resolve, reject };
      this.child.stdin.write(`${command}\necho ${this.marker}\n`);
    }));
    this.tail = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await gone;
  }

  private settle(): void {
    const i = this.out.indexOf(this.marker);
    if (i < 0 || !this.pending) return;
    const { resolve, reject } = this.pending;
    this.pending = undefined;
    const out = this.out.slice(0, i);
    // stderr is another pipe: what the command wrote there may be read just after the marker.
    setTimeout(() => {
      if (this.err.trim()) reject(new Error(this.err.trim()));
      else resolve(out);
    }, 5);
  }
}
