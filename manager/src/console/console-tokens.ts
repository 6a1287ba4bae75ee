// One-time console tokens: open-console hands one out, the WebSocket presents it. Only its
// SHA-256 is kept (a leaked store or log names no usable token), it expires after a short time,
// and the first presentation consumes it, valid or not for the caller after that.
// Kept in this manager's memory: the WebSocket must reach the manager that holds the host's
// agent stream anyway, and a token outliving a restart has no use.
import { createHash, randomBytes } from "node:crypto";

/** What a token opens: one VM's console, on the host it runs on. */
export interface ConsoleTarget {
  vmId: number;
  vmUuid: string;
  hostId: number;
}

/** Unused tokens one VM may have; issuing more forgets its oldest (memory stays bounded). */
export const MAX_TOKENS_PER_VM = 16;

interface Entry extends ConsoleTarget {
  expiresAt: number;
}

export function hashConsoleToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class ConsoleTokens {
  private readonly byHash = new Map<string, Entry>();

  constructor(private readonly ttlMs: () => number, private readonly now: () => number = Date.now) {}

  /** A new token for the target, valid for ttlMs; only its hash is stored. */
  issue(target: ConsoleTarget): { token: string; expiresAt: Date } {
    this.sweep();
    // Map order is insertion order: the first of the VM's entries is its oldest.
    const mine = [...this.byHash].filter(([, e]) => e.vmId === target.vmId);
    for (const [h] of mine.slice(0, Math.max(0, mine.length - MAX_TOKENS_PER_VM + 1))) this.byHash.delete(h);
    const token = randomBytes(32).toString("base64url");
    const expiresAt = this.now() + this.ttlMs();
    this.byHash.set(hashConsoleToken(token), { ...target, expiresAt });
    return { token, expiresAt: new Date(expiresAt) };
  }

  /** The target of a token not used and not expired yet, forgetting it; undefined otherwise. */
  consume(token: string): ConsoleTarget | undefined {
    const hash = hashConsoleToken(token);
    const e = this.byHash.get(hash);
    this.byHash.delete(hash);
    if (!e || e.expiresAt <= this.now()) return undefined;
    return { vmId: e.vmId, vmUuid: e.vmUuid, hostId: e.hostId };
  }

  /** Forgets every unused token of the VM (close-console). Returns how many. */
  revokeVm(vmId: number): number {
    let n = 0;
    for (const [h, e] of this.byHash) if (e.vmId === vmId) { this.byHash.delete(h); n++; }
    return n;
  }

  /** Hashes held now (tests check no plain token is among them). */
  storedHashes(): string[] {
    this.sweep();
    return [...this.byHash.keys()];
  }

  private sweep(): void {
    const now = this.now();
    for (const [h, e] of this.byHash) if (e.expiresAt <= now) this.byHash.delete(h);
  }
}
