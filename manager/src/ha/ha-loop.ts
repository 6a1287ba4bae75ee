// HA's own loop, every second beside host liveness's: a round (investigations with their probes,
// failovers) may take seconds and must not delay marking other hosts Suspect. Rounds never overlap.
import type { Logger } from "pino";

export class HaLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly round: () => Promise<void>, private readonly log: Logger, private readonly reportError?: (e: unknown) => boolean) {}

  start(everyMs = 1000): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.round()
        .catch((e: unknown) => { if (!this.reportError?.(e)) this.log.error({ err: e }, "HA round failed"); })
        .finally(() => { this.running = undefined; });
    }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
