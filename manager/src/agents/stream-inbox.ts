// One agent stream's inbound messages, handled one at a time in arrival order, with bounded memory.
// A heartbeat that arrives while an older one still waits replaces it: the older is dropped (never
// handled, never acked; the agent counts acks in order, so the newer ack covers it) and the newer
// takes its place at the END of the queue, so it is still handled after every message that came
// before it (a heartbeat never overtakes a command result). Other messages (command results,
// events, stats) are all kept, up to `maxQueued`: there the stream is paused (grpc-js then stops
// reading it, and HTTP/2 flow control holds the agent's writes) until the queue is down to
// `resumeAt`. So a slow manager or an absent database costs one waiting heartbeat and at most
// `maxQueued` other messages per stream, not memory without bound.
// Tasks (the stream's open and close handling) run in the same order and count toward no bound.

export interface InboxObserver {
  /** A waiting heartbeat was replaced by a newer one. */
  heartbeatCoalesced(): void;
  /** The stream was paused (queue full) or resumed. */
  streamPaused(paused: boolean): void;
}

export interface StreamInboxOptions<M> {
  isHeartbeat: (m: M) => boolean;
  handle: (m: M) => Promise<void>;
  /** A handler that threw (the stream goes on). */
  failed: (e: unknown) => void;
  pause: () => void;
  resume: () => void;
  maxQueued: number;
  resumeAt: number;
  observer?: InboxObserver;
}

type Item<M> = { message: M } | { task: () => Promise<void> };

export class StreamInbox<M> {
  private readonly queue: Item<M>[] = [];
  private head = 0;
  /** The heartbeat waiting in the queue, if any. */
  private heartbeat: { message: M } | undefined;
  /** Messages (heartbeats excluded) waiting. */
  private others = 0;
  private paused = false;
  private running: Promise<void> | undefined;

  constructor(private readonly o: StreamInboxOptions<M>) {}

  /** Messages waiting (the waiting heartbeat included). */
  size(): number {
    return this.others + (this.heartbeat ? 1 : 0);
  }

  isPaused(): boolean {
    return this.paused;
  }

  push(message: M): void {
    if (this.o.isHeartbeat(message)) {
      if (this.heartbeat) {
        // Taken out (not left as a tombstone): the queue stays bounded however long the stream waits.
        const at = this.queue.lastIndexOf(this.heartbeat);
        if (at >= this.head) this.queue.splice(at, 1);
        this.o.observer?.heartbeatCoalesced();
      }
      this.heartbeat = { message };
      this.queue.push(this.heartbeat);
    } else {
      this.others++;
      this.queue.push({ message });
      if (!this.paused && this.others >= this.o.maxQueued) {
        this.paused = true;
        this.o.pause();
        this.o.observer?.streamPaused(true);
      }
    }
    this.run();
  }

  /** Runs fn after everything queued so far (stream opened / closed handling). */
  then(task: () => Promise<void>): void {
    this.queue.push({ task });
    this.run();
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private run(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.head < this.queue.length) this.run(); // anything pushed while the loop was ending
    });
  }

  private async drain(): Promise<void> {
    while (this.head < this.queue.length) {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Item<M>;
      if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue.splice(0, this.head); this.head = 0; }
      if ("task" in item) {
        await item.task().catch(this.o.failed);
        continue;
      }
      if (item === this.heartbeat) this.heartbeat = undefined;
      else if (!this.o.isHeartbeat(item.message)) this.others--;
      if (this.paused && this.others <= this.o.resumeAt) {
        this.paused = false;
        this.o.resume();
        this.o.observer?.streamPaused(false);
      }
      await this.o.handle(item.message).catch(this.o.failed);
    }
  }
}
