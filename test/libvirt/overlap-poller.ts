// The HA tier's safety check: every host's running domains listed every ~200 ms for as long as a
// failover takes, and any VM seen running on two hosts in one sample recorded. A test fails on
// any overlap, and on any sample it could not take (a host whose list cannot be read proves
// nothing).
export interface PolledHost {
  hostname: string;
  running(): Promise<string[]>;
}

export interface OverlapSample {
  atMs: number;
  running: Record<string, string[]>;
}

export class OverlapPoller {
  readonly samples: OverlapSample[] = [];
  readonly overlaps: string[] = [];
  readonly errors: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly hosts: readonly PolledHost[], private readonly everyMs = 200) {}

  start(): void {
    const tick = (): void => {
      this.inflight = this.sample().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
  }

  /** When `uuid` was first seen running on `hostname` at or after `sinceMs`; undefined if never. */
  firstSeen(hostname: string, uuid: string, sinceMs = 0): number | undefined {
    return this.samples.find((s) => s.atMs >= sinceMs && s.running[hostname]?.includes(uuid))?.atMs;
  }

  /** The first sample at or after `sinceMs` where `uuid` no longer runs on `hostname`. */
  firstGone(hostname: string, uuid: string, sinceMs = 0): number | undefined {
    return this.samples.find((s) => s.atMs >= sinceMs && s.running[hostname] !== undefined && !s.running[hostname].includes(uuid))?.atMs;
  }

  private async sample(): Promise<void> {
    const atMs = Date.now();
    const lists = await Promise.all(this.hosts.map(async (h) => {
      try {
        return [h.hostname, await h.running()] as const;
      } catch (e) {
        this.errors.push(`${new Date(atMs).toISOString()} ${h.hostname}: ${(e as Error).message}`);
        return undefined;
      }
    }));
    const running: Record<string, string[]> = {};
    for (const l of lists) if (l) running[l[0]] = l[1];
    this.samples.push({ atMs, running });
    const seen = new Map<string, string>();
    for (const [host, uuids] of Object.entries(running)) {
      for (const u of uuids) {
        const other = seen.get(u);
        if (other) this.overlaps.push(`${new Date(atMs).toISOString()}: ${u} running on ${other} and ${host}`);
        seen.set(u, host);
      }
    }
  }
}
