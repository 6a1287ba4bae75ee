import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileIdentityStore } from "./identity-store.js";

const dirs: string[] = [];
function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "orbit-identity-"));
  dirs.push(d);
  return d;
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const ID = { hostId: "7d3f0c8e-2d0e-4f57-9e0b-1b2c3d4e5f60", hostSecret: "hs_secret", hostUuid: "7d3f0c8e-2d0e-4f57-9e0b-1b2c3d4e5f60" };
const TLS = { keyPem: "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n", certPem: "CERT", caPem: "CA" };

describe("FileIdentityStore", () => {
  it("keeps the identity and its key, certificate and CA across instances; key and identity are 0600", () => {
    const dir = stateDir();
    new FileIdentityStore(dir).save({ ...ID, tls: TLS });
    expect(new FileIdentityStore(dir).load()).toEqual({ ...ID, tls: TLS });
    expect(statSync(path.join(dir, "tls", "host.key")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, "identity.json")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, "tls", "host.crt")).mode & 0o777).toBe(0o644);
  });

  it("writes the TLS files where configured", () => {
    const dir = stateDir();
    const other = stateDir();
    const files = { keyFile: path.join(other, "k.pem"), certFile: path.join(other, "c.pem"), caFile: path.join(other, "ca.pem") };
    new FileIdentityStore(dir, files).save({ ...ID, tls: TLS });
    expect(statSync(files.keyFile).isFile()).toBe(true);
    // The identity names its files, so a store with other defaults still finds them.
    expect(new FileIdentityStore(dir).load()?.tls).toEqual(TLS);
  });

  it("loads an identity without TLS, and drops TLS whose files vanished", () => {
    const dir = stateDir();
    const store = new FileIdentityStore(dir);
    store.save(ID);
    expect(store.load()).toEqual(ID);
    store.save({ ...ID, tls: TLS });
    rmSync(path.join(dir, "tls", "host.crt"));
    expect(store.load()).toEqual(ID);
  });

  it("returns nothing for a missing, cleared or broken identity", () => {
    const dir = stateDir();
    const store = new FileIdentityStore(dir);
    expect(store.load()).toBeUndefined();
    store.save(ID);
    store.clear();
    expect(store.load()).toBeUndefined();
    writeFileSync(path.join(dir, "identity.json"), "{ not json");
    expect(store.load()).toBeUndefined();
  });
});
