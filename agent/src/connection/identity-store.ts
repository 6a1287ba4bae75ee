// Where an agent keeps who it is to the manager across restarts: host id and secret, and with
// mTLS its private key, its certificate and the manager's CA (PEM files in state_dir; the key
// and identity readable by the agent's user only).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface AgentTlsIdentity {
  keyPem: string;
  certPem: string;
  /** The manager's CA: verifies the manager, and is pinned once learned. */
  caPem: string;
}

export interface AgentIdentity {
  hostId: string;
  hostSecret: string;
  /** The UUID this host registered with (kept stable even if the hypervisor's changes). */
  hostUuid: string;
  /** Present once the manager signed a certificate for this host. */
  tls?: AgentTlsIdentity | undefined;
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

export interface IdentityFiles {
  /** Default <state_dir>/tls/host.key */
  keyFile?: string | undefined;
  /** Default <state_dir>/tls/host.crt */
  certFile?: string | undefined;
  /** Where the CA learned from the manager is kept; default <state_dir>/tls/ca.crt */
  caFile?: string | undefined;
}

interface IdentityJson {
  hostId?: string;
  hostSecret?: string;
  hostUuid?: string;
  tls?: { keyFile: string; certFile: string; caFile: string };
}

function writeAtomically(file: string, content: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

export class FileIdentityStore implements IdentityStore {
  private readonly file: string;
  private readonly tlsFiles: { keyFile: string; certFile: string; caFile: string };

  constructor(stateDir: string, files: IdentityFiles = {}) {
    this.file = path.join(stateDir, "identity.json");
    this.tlsFiles = {
      keyFile: files.keyFile ?? path.join(stateDir, "tls", "host.key"),
      certFile: files.certFile ?? path.join(stateDir, "tls", "host.crt"),
      caFile: files.caFile ?? path.join(stateDir, "tls", "ca.crt"),
    };
  }

  load(): AgentIdentity | undefined {
    let j: IdentityJson;
    try {
      j = JSON.parse(readFileSync(this.file, "utf8")) as IdentityJson;
    } catch {
      return undefined;
    }
    if (!j.hostId || !j.hostSecret || !j.hostUuid) return undefined;
    const id: AgentIdentity = { hostId: j.hostId, hostSecret: j.hostSecret, hostUuid: j.hostUuid };
    if (j.tls) {
      try {
        id.tls = {
          keyPem: readFileSync(j.tls.keyFile, "utf8"),
          certPem: readFileSync(j.tls.certFile, "utf8"),
          caPem: readFileSync(j.tls.caFile, "utf8"),
        };
      } catch {
        // Files gone: the identity stands without a certificate (the agent enrolls again).
      }
    }
    return id;
  }

  save(id: AgentIdentity): void {
    const json: IdentityJson = { hostId: id.hostId, hostSecret: id.hostSecret, hostUuid: id.hostUuid };
    if (id.tls) {
      // Key first: a crash between writes leaves an identity that still names a usable pair.
      writeAtomically(this.tlsFiles.keyFile, id.tls.keyPem, 0o600);
      writeAtomically(this.tlsFiles.certFile, id.tls.certPem, 0o644);
      writeAtomically(this.tlsFiles.caFile, id.tls.caPem, 0o644);
      json.tls = this.tlsFiles;
    }
    writeAtomically(this.file, JSON.stringify(json, null, 2), 0o600);
  }

  clear(): void {
    try { renameSync(this.file, `${this.file}.old`); } catch { /* none */ }
  }
}
