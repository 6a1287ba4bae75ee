// Where an agent keeps who it is to the manager (host id and secret) across restarts.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface AgentIdentity {
  hostId: string;
  hostSecret: string;
  /** The UUID this host registered with (kept stable even if the hypervisor's changes). */
  hostUuid: string;
}

export interface IdentityStore {
  load(): AgentIdentity | undefined;
  save(id: AgentIdentity): void;
  clear(): void;
}

export class MemoryIdentityStore implements IdentityStore {
  private id: AgentIdentity | undefined;
  load() { return this.id; }
  save(id: AgentIdentity) { this.id = id; }
  clear() { this.id = undefined; }
}

export class FileIdentityStore implements IdentityStore {
  private readonly file: string;
  constructor(stateDir: string) {
    this.file = path.join(stateDir, "identity.json");
  }
  load(): AgentIdentity | undefined {
    try {
      const j = JSON.parse(readFileSync(this.file, "utf8")) as Partial<AgentIdentity>;
      return j.hostId && j.hostSecret && j.hostUuid ? (j as AgentIdentity) : undefined;
    } catch {
      return undefined;
    }
  }
  save(id: AgentIdentity): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(id, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
  clear(): void {
    try { renameSync(this.file, `${this.file}.old`); } catch { /* none */ }
  }
}
