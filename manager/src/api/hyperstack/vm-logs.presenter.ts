// A console log request's state as the fetch answers it (pure).
import type { ConsoleLogRequest } from "../../monitoring/vm-console-logs.js";

export function presentConsoleLog(r: ConsoleLogRequest) {
  return r.status === "pending"
    ? { status: true as const, message: "The console log is still being collected: ask again", logs: "", request_status: "pending" as const, truncated: false }
    : { status: true as const, message: "Getting virtual machine logs success", logs: r.logs, request_status: "succeeded" as const, truncated: r.truncated };
}
