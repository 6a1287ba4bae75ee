// Runs virsh through execa, one process per call: `virsh -q -c <uri> <args...>`. Failures become
// VirshError (see virsh-error.ts). The C locale keeps libvirt's messages matchable.
import { execa } from "execa";
import { virshErrorFrom } from "./virsh-error.js";

export interface VirshOptions {
  uri: string;
  /** Default "virsh". */
  binary?: string;
  /** Kill a call that takes longer. Default 120 s (a managedsave of a big guest is slow). */
  timeoutMs?: number;
}

export interface VirshCallOptions {
  timeoutMs?: number;
  input?: string;
}

export class Virsh {
  readonly uri: string;
  readonly binary: string;
  private readonly timeoutMs: number;

  constructor(opts: VirshOptions) {
    this.uri = opts.uri;
    this.binary = opts.binary ?? "virsh";
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** Argument vector for a virsh process on this connection (also used by the event stream). */
  argv(args: readonly string[]): string[] {
    return ["-q", "-c", this.uri, ...args];
  }

  /** Runs one virsh command; resolves with stdout, rejects with a VirshError. */
  async run(args: readonly string[], opts: VirshCallOptions = {}): Promise<string> {
    const r = await execa(this.binary, this.argv(args), {
      reject: false,
      timeout: opts.timeoutMs ?? this.timeoutMs,
      env: { LC_ALL: "C" },
      ...(opts.input === undefined ? { stdin: "ignore" as const } : { input: opts.input }),
      stripFinalNewline: false,
    });
    if (r.timedOut) throw virshErrorFrom(`error: Timed out during operation: virsh ${args.join(" ")}`, args);
    if (r.exitCode !== 0 || r.failed) {
      throw virshErrorFrom(r.stderr || (r.message ?? ""), args, r.exitCode);
    }
    return r.stdout;
  }
}
