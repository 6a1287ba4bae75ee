import { eq } from "drizzle-orm";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, environments, keypairs, regions } from "../db/schema.js";
import { KeyPairService, type KeyPairOwner } from "./keypair-service.js";
import { KEYS, RSA_1024 } from "./testing/ssh-key-fixtures.js";

let database: Database;
let svc: KeyPairService;
let alice: KeyPairOwner;
let bob: KeyPairOwner;

beforeAll(async () => {
  database = await openTestDatabase();
  const db = database.db;
  svc = new KeyPairService(db);
  const [a, b] = await db.insert(accounts).values([{ name: "alice" }, { name: "bob" }]).returning();
  alice = { accountId: a!.id };
  bob = { accountId: b!.id };
  const [canada, norway] = await db.insert(regions).values([{ name: "CANADA-1" }, { name: "NORWAY-1" }]).returning();
  await db.insert(environments).values([a!, b!].flatMap((owner) => [
    { accountId: owner.id, name: "default-CANADA-1", regionId: canada!.id },
    { accountId: owner.id, name: "default-NORWAY-1", regionId: norway!.id },
  ]));
}, 60_000);
afterAll(async () => { await database?.close(); });

const stored = async () => database.db.select().from(keypairs).orderBy(keypairs.id);

describe("KeyPairService", () => {
  it("imports a public key with its fingerprints and environment, and gets it back", async () => {
    const kp = await svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "laptop", publicKey: `${KEYS.ed25519.line}\n` });
    expect(kp).toMatchObject({
      name: "laptop", publicKey: KEYS.ed25519.line, fingerprint: KEYS.ed25519.md5, fingerprintSha256: KEYS.ed25519.sha256,
      environment: { name: "default-CANADA-1", region: "CANADA-1" },
    });
    expect(kp.createdAt).toBeInstanceOf(Date);
    expect(await svc.get(alice, kp.id)).toEqual(kp);
  });

  it("refuses a bad key naming public_key and an unknown environment naming environment_name, storing nothing", async () => {
    const before = await stored();
    await expect(svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "old", publicKey: RSA_1024 }))
      .rejects.toMatchObject({ code: "invalid_argument", field: "public_key" });
    await expect(svc.importKeyPair(alice, { environmentName: "nowhere", name: "k", publicKey: KEYS.rsa2048.line }))
      .rejects.toMatchObject({ code: "not_found", message: 'environment "nowhere" does not exist', details: { field: "environment_name" } });
    await expect(svc.generate(alice, { environmentName: "nowhere", name: "k" })).rejects.toMatchObject({ code: "not_found" });
    expect(await stored()).toEqual(before);
  });

  it("keeps names unique per account and environment", async () => {
    await svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "ci", publicKey: KEYS.rsa2048.line });
    const before = await stored();
    await expect(svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "ci", publicKey: KEYS.ecdsa384.line }))
      .rejects.toMatchObject({ code: "already_exists", message: 'a key pair named "ci" already exists in environment "default-CANADA-1"' });
    await expect(svc.generate(alice, { environmentName: "default-CANADA-1", name: "ci" })).rejects.toMatchObject({ code: "already_exists" });
    expect(await stored()).toEqual(before);
    // The same name elsewhere is another key pair.
    await svc.importKeyPair(alice, { environmentName: "default-NORWAY-1", name: "ci", publicKey: KEYS.rsa2048.line });
    await svc.importKeyPair(bob, { environmentName: "default-CANADA-1", name: "ci", publicKey: KEYS.rsa2048.line });
  });

  it("lets one of two concurrent imports of one name win", async () => {
    const tries = await Promise.allSettled([KEYS.ecdsa256, KEYS.ecdsa521].map((k) =>
      svc.importKeyPair(bob, { environmentName: "default-NORWAY-1", name: "race", publicKey: k.line })));
    expect(tries.filter((t) => t.status === "fulfilled")).toHaveLength(1);
    expect(tries.find((t) => t.status === "rejected")).toMatchObject({ reason: { code: "already_exists" } });
  });

  it("generates a pair: the private key is returned, only the public key is stored", async () => {
    const { keyPair, privateKey } = await svc.generate(alice, { environmentName: "default-NORWAY-1", name: "generated" });
    const priv = sshpk.parsePrivateKey(privateKey, "ssh");
    expect(priv.type).toBe("ed25519");
    expect(keyPair.fingerprint).toBe(priv.toPublic().fingerprint("md5").toString("hex"));
    expect(keyPair.publicKey).toMatch(/^ssh-ed25519 \S+ generated$/);
    const [row] = await database.db.select().from(keypairs).where(eq(keypairs.id, keyPair.id));
    expect(Object.values(row!).some((v) => typeof v === "string" && v.includes("PRIVATE"))).toBe(false);
    const rsa = await svc.generate(alice, { environmentName: "default-NORWAY-1", name: "generated-rsa", keyType: "rsa" });
    expect(rsa.keyPair.publicKey).toMatch(/^ssh-rsa /);
  });

  it("lists only the caller's key pairs, a page at a time, searching names literally and in any case", async () => {
    const all = await svc.list(alice, { page: 1, pageSize: 100 });
    expect(all.keyPairs.map((k) => k.name)).toEqual(["laptop", "ci", "ci", "generated", "generated-rsa"]);
    expect(all.total).toBe(5);
    const page2 = await svc.list(alice, { page: 2, pageSize: 2 });
    expect(page2).toMatchObject({ total: 5, keyPairs: [{ name: "ci" }, { name: "generated" }] });
    expect((await svc.list(alice, { page: 9, pageSize: 2 })).keyPairs).toEqual([]);
    expect((await svc.list(alice, { page: 1, pageSize: 10, search: "GENER" })).keyPairs.map((k) => k.name)).toEqual(["generated", "generated-rsa"]);
    await svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "a_b", publicKey: KEYS.ed25519.line });
    await svc.importKeyPair(alice, { environmentName: "default-CANADA-1", name: "axb", publicKey: KEYS.ed25519.line });
    expect((await svc.list(alice, { page: 1, pageSize: 10, search: "a_b" })).keyPairs.map((k) => k.name)).toEqual(["a_b"]);
    expect((await svc.list(alice, { page: 1, pageSize: 10, search: "%" })).total).toBe(0);
    const bobs = await svc.list(bob, { page: 1, pageSize: 100 });
    expect(bobs.keyPairs.map((k) => k.name).sort()).toEqual(["ci", "race"]);
  });

  it("renames within the account, refusing a name taken in the same environment", async () => {
    const laptop = (await svc.list(alice, { page: 1, pageSize: 1, search: "laptop" })).keyPairs[0]!;
    const renamed = await svc.rename(alice, laptop.id, "workstation");
    expect(renamed).toEqual({ ...laptop, name: "workstation" });
    expect(await svc.get(alice, laptop.id)).toEqual(renamed);
    expect(await svc.rename(alice, laptop.id, "workstation")).toEqual(renamed);
    await expect(svc.rename(alice, laptop.id, "ci")).rejects.toMatchObject({ code: "already_exists" });
    expect((await svc.get(alice, laptop.id)).name).toBe("workstation");
    // "generated" is taken in NORWAY-1 only: the CANADA-1 key pair may take it.
    expect((await svc.rename(alice, laptop.id, "generated")).name).toBe("generated");
  });

  it("answers another account's key pair as not found, changing nothing", async () => {
    const mine = (await svc.list(alice, { page: 1, pageSize: 1 })).keyPairs[0]!;
    const before = await stored();
    await expect(svc.get(bob, mine.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.rename(bob, mine.id, "stolen")).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.delete(bob, mine.id)).rejects.toMatchObject({ code: "not_found" });
    expect(await stored()).toEqual(before);
  });

  it("deletes a key pair once", async () => {
    const mine = (await svc.list(alice, { page: 1, pageSize: 1 })).keyPairs[0]!;
    await svc.delete(alice, mine.id);
    await expect(svc.get(alice, mine.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.delete(alice, mine.id)).rejects.toMatchObject({ code: "not_found", message: `key pair ${mine.id} not found` });
  });
});
