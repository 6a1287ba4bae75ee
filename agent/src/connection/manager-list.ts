// The managers an agent may hold its stream to: those in its configuration (always kept, in their
// order) and those the manager it reached says are alive (AgentSettings.manager_addresses, which
// replace the previous such list). The agent dials the current one and, when it is lost or cannot
// be reached, moves round-robin to the next.

export class ManagerList {
  private advertised: string[] = [];
  private index = 0;
  private readonly configured: string[];

  constructor(configured: readonly string[]) {
    this.configured = dedupe(configured);
    if (this.configured.length === 0) throw new Error("an agent needs at least one manager address");
  }

  /** Every address to try: the configured ones first, then the advertised ones not among them. */
  addresses(): string[] {
    return mergeManagerAddresses(this.configured, this.advertised);
  }

  get size(): number {
    return this.addresses().length;
  }

  /** The address to dial now. */
  current(): string {
    const all = this.addresses();
    return all[this.index % all.length]!;
  }

  /**
   * The live managers as a manager lists them now: replaces the previously advertised list. The
   * current address stays current when it is still in the list. Returns whether the list changed.
   */
  advertise(addresses: readonly string[]): boolean {
    const next = dedupe(addresses);
    if (next.length === this.advertised.length && next.every((a, i) => a === this.advertised[i])) return false;
    const current = this.current();
    this.advertised = next;
    const at = this.addresses().indexOf(current);
    // The current one is gone (only an advertised address can be): start over at the first.
    this.index = at >= 0 ? at : 0;
    return true;
  }

  /** Moves to the next address (after a lost or failed connection); wraps around. */
  next(): string {
    this.index = (this.index + 1) % this.addresses().length;
    return this.current();
  }
}

/** `configured` in order, then the `advertised` addresses that are not configured; blanks and repeats dropped. */
export function mergeManagerAddresses(configured: readonly string[], advertised: readonly string[]): string[] {
  return dedupe([...configured, ...advertised]);
}

function dedupe(list: readonly string[]): string[] {
  return [...new Set(list.map((a) => a.trim()).filter((a) => a !== ""))];
}
