import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { loadOrCreateCertificateAuthority } from "./ca-store.js";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); }, 60_000);
afterAll(async () => { await database?.close(); });

describe("loadOrCreateCertificateAuthority", () => {
  it("creates the CA once; later starts, even concurrent ones, load that same CA", async () => {
    const first = await loadOrCreateCertificateAuthority(database.db);
    expect(first.created).toBe(true);
    const [a, b] = await Promise.all([loadOrCreateCertificateAuthority(database.db), loadOrCreateCertificateAuthority(database.db)]);
    expect(a.created || b.created).toBe(false);
    expect(a.ca.certPem).toBe(first.ca.certPem);
    expect(b.ca.keyPem).toBe(first.ca.keyPem);
  });
});
