// What every command gets: the API client (built on first use, so `orbit config` and usage errors
// need no key), where to print, and how to wait.
import { type Command, InvalidArgumentError } from "commander";
import { ApiClient } from "./client.js";
import { type Env, resolveConnection } from "./config.js";
import type { Out } from "./output.js";
import { type WaitOptions } from "./wait.js";

export interface Io {
  stdout: Out;
  /** Errors and the --wait spinner. */
  stderr: NodeJS.WritableStream;
  env: Env;
  /** What `orbit vm console` sends to the guest (default process.stdin). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
  /** How often --wait polls (tests make it short). */
  pollIntervalMs?: number;
}

interface GlobalOptions {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

export class Context {
  private apiClient: ApiClient | undefined;

  constructor(readonly io: Io, private readonly opts: GlobalOptions) {}

  static of(io: Io, cmd: Command): Context {
    return new Context(io, cmd.optsWithGlobals<GlobalOptions>());
  }

  get client(): ApiClient {
    this.apiClient ??= new ApiClient(resolveConnection({ url: this.opts.url, apiKey: this.opts.apiKey }, this.io.env));
    return this.apiClient;
  }

  get json(): boolean {
    return this.opts.json === true;
  }

  get out(): Out {
    return this.io.stdout;
  }

  /** Notes for people (not the command's result): stderr, so stdout stays the result. */
  note(line: string): void {
    this.io.stderr.write(line + "\n");
  }

  waitOptions(timeoutSeconds: number): WaitOptions {
    return { timeoutMs: timeoutSeconds * 1000, intervalMs: this.io.pollIntervalMs ?? 1000, stream: this.io.stderr };
  }
}

/** Ids in paths are positive integers; anything else is a usage error before any request. */
export function parseId(value: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > 2147483647) throw new InvalidArgumentError("expected a positive integer id");
  return Number(value);
}

export function parsePositiveInt(value: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(value)) throw new InvalidArgumentError("expected a positive integer");
  return Number(value);
}

/** --wait and --timeout, on every command that starts a job. */
export function waitable(cmd: Command): Command {
  return cmd
    .option("-w, --wait", "wait until the work is done, with a progress spinner on stderr")
    .option("--timeout <seconds>", "with --wait: give up after this long (exit 4)", parsePositiveInt, 900);
}
