// Exit codes scripts can test (README, CLI) and the error that carries one up to main.

export const EXIT = {
  ok: 0,
  /** The API refused the request (HTTP 4xx): the server's message says why. */
  api: 1,
  /** The command line is wrong (unknown command or option, bad value) or no API key is configured. */
  usage: 2,
  /** The server failed (HTTP 5xx), could not be reached, or answered something that is not its API. */
  server: 3,
  /** A job waited for with --wait failed, or the wait timed out. */
  job: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode) {
    super(message);
    this.name = "CliError";
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** An error answer of the API: its body's message, and the field or request id when it names one. */
export class ApiError extends CliError {
  constructor(readonly status: number, message: string, readonly field?: string, readonly code?: string, readonly requestId?: string) {
    super(message, status >= 500 ? EXIT.server : EXIT.api);
    this.name = "ApiError";
  }

  /** The line printed on stderr. */
  describe(): string {
    const notes = [
      ...(this.field !== undefined ? [`field: ${this.field}`] : []),
      ...(this.requestId !== undefined ? [`request_id: ${this.requestId}`] : []),
    ];
    return notes.length ? `${this.message} (${notes.join(", ")})` : this.message;
  }
}
