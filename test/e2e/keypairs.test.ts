// Key pairs through the HTTP API: Hyperstack's routes and shapes, generate, every 4xx, and
// another account's key pair answered as 404 on every route.
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKeys, keypairs } from "../../manager/src/db/schema.js";
import { KEYS, RSA_1024 } from "../../manager/src/keypairs/testing/ssh-key-fixtures.js";
import { createUserKey, errorShapeProblems, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [
      { hostname: "kp-a", uuid: "c0000000-0000-4000-8000-0000000000a1", cpus: 8, memoryMib: 16384, environment: "env-canada" },
      { hostname: "kp-b", uuid: "c0000000-0000-4000-8000-0000000000b1", cpus: 8, memoryMib: 16384, environment: "env-norway" },
    ],
  });
  alice = await createUserKey(cloud, "alice");
  bob = await createUserKey(cloud, "bob");
  // Environments come into being as hosts register.
  await cloud.waitFor("both hosts", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.length === 2);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const stored = async () => JSON.stringify(await cloud.manager.database.db.select().from(keypairs).orderBy(keypairs.id));

const importBody = (name: string, publicKey = KEYS.ed25519.line, environment = "env-canada") => ({ environment_name: environment, name, public_key: publicKey });

/** The error envelope, and the field it names when there is one. */
function expectError(r: { status: number; json: Record<string, any> }, status: number, field?: string): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  if (field !== undefined) expect(r.json.field).toBe(field);
}

function expectKeypairShape(k: Record<string, any>): void {
  expect(k).toEqual({
    id: expect.any(Number), name: expect.any(String), public_key: expect.any(String),
    fingerprint: expect.stringMatching(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/), fingerprint_sha256: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/),
    created_at: expect.any(String),
    environment: {
      id: expect.any(Number), name: expect.any(String), region: expect.any(String), created_at: expect.any(String),
      features: { network_optimised: false, green_status: "NOT_GREEN" },
    },
  });
  expect(new Date(k.created_at).toISOString()).toBe(k.created_at);
}

describe("key pairs", () => {
  it("imports, lists, gets, renames and deletes in Hyperstack's shapes", async () => {
    const imported = await cloud.api("POST", "/v1/core/keypairs", importBody("laptop", `${KEYS.rsa2048.line}\n`), alice);
    expect(imported.status, JSON.stringify(imported.json)).toBe(200);
    expect(imported.json).toMatchObject({ status: true, message: expect.any(String) });
    const kp = imported.json.keypair;
    expectKeypairShape(kp);
    expect(kp).toMatchObject({ name: "laptop", public_key: KEYS.rsa2048.line, fingerprint: KEYS.rsa2048.md5, fingerprint_sha256: KEYS.rsa2048.sha256, environment: { name: "env-canada" } });

    await cloud.api("POST", "/v1/core/keypairs", importBody("ci", KEYS.ecdsa384.line, "env-norway"), alice);
    const list = await cloud.api("GET", "/v1/core/keypairs", undefined, alice);
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ status: true, count: 2, page: 1, page_size: 50 });
    list.json.keypairs.forEach(expectKeypairShape);
    expect(list.json.keypairs.map((k: any) => [k.name, k.environment.name])).toEqual([["laptop", "env-canada"], ["ci", "env-norway"]]);
    expect((await cloud.api("GET", "/v1/core/keypairs?page=2&pageSize=1", undefined, alice)).json)
      .toMatchObject({ count: 2, page: 2, page_size: 1, keypairs: [{ name: "ci" }] });
    expect((await cloud.api("GET", "/v1/core/keypairs?search=LAP", undefined, alice)).json).toMatchObject({ count: 1, keypairs: [{ name: "laptop" }] });

    expect((await cloud.api("GET", `/v1/core/keypair/${kp.id}`, undefined, alice)).json.keypair).toEqual(kp);
    const renamed = await cloud.api("PUT", `/v1/core/keypair/${kp.id}`, { name: "workstation" }, alice);
    expect(renamed.status).toBe(200);
    expect(renamed.json).toMatchObject({ status: true, keypair: { ...kp, name: "workstation" } });

    const deleted = await cloud.api("DELETE", `/v1/core/keypair/${kp.id}`, undefined, alice);
    expect(deleted).toMatchObject({ status: 200, json: { status: true, message: expect.any(String) } });
    expect((await cloud.api("GET", "/v1/core/keypairs", undefined, alice)).json).toMatchObject({ count: 1, keypairs: [{ name: "ci" }] });
    expectError(await cloud.api("DELETE", `/v1/core/keypair/${kp.id}`, undefined, alice), 404);
  });

  it("generates a key pair whose private key is returned once and matches the stored public key", async () => {
    const r = await cloud.api("POST", "/v1/core/keypairs/generate", { environment_name: "env-canada", name: "generated" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const { private_key: privateKey, ...kp } = r.json.keypair;
    expectKeypairShape(kp);
    const priv = sshpk.parsePrivateKey(privateKey, "ssh");
    expect(priv.type).toBe("ed25519");
    expect(priv.toPublic().fingerprint("md5").toString("hex")).toBe(kp.fingerprint);
    const again = await cloud.api("GET", `/v1/core/keypair/${kp.id}`, undefined, alice);
    expect(again.json.keypair).toEqual(kp);
    expect(JSON.stringify((await cloud.api("GET", "/v1/core/keypairs", undefined, alice)).json)).not.toContain("PRIVATE KEY");
    expect(await stored()).not.toContain("PRIVATE KEY");

    const ecdsa = await cloud.api("POST", "/v1/core/keypairs/generate", { environment_name: "env-canada", name: "generated-ec", key_type: "ecdsa" }, alice);
    expect(ecdsa.json.keypair.public_key).toMatch(/^ecdsa-sha2-nistp256 /);
  });

  it("refuses an Idempotency-Key on generate (a replay would need the private key stored), takes one on import", async () => {
    const db = cloud.manager.database.db;
    const before = await stored();
    const idempotencyRows = (await db.select().from(idempotencyKeys)).length;
    const r = await cloud.api("POST", "/v1/core/keypairs/generate", { environment_name: "env-canada", name: "retried" }, alice, { "idempotency-key": "gen-1" });
    expectError(r, 400, "Idempotency-Key");
    expect(await stored()).toBe(before);
    expect((await db.select().from(idempotencyKeys)).length).toBe(idempotencyRows);

    const first = await cloud.api("POST", "/v1/core/keypairs", importBody("imported-once"), alice, { "idempotency-key": "imp-1" });
    const retry = await cloud.api("POST", "/v1/core/keypairs", importBody("imported-once"), alice, { "idempotency-key": "imp-1" });
    expect(first.status).toBe(200);
    expect(retry).toMatchObject({ status: 200, json: first.json });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
  });

  describe("refuses bad requests with the error envelope, changing nothing", () => {
    beforeAll(async () => {
      const r = await cloud.api("POST", "/v1/core/keypairs", importBody("taken"), alice);
      expect(r.status).toBe(200);
    });

    it.each([
      ["a bad public key", importBody("k", RSA_1024), 400, "public_key", /at least 2048 bits/],
      ["a key whose type does not match its data", importBody("k", `ssh-rsa ${KEYS.ed25519.line.split(" ")[1]}`), 400, "public_key", /not a valid ssh-rsa key/],
      ["a missing public key", { environment_name: "env-canada", name: "k" }, 400, "public_key", /'public_key' is required/],
      ["a 51-character name", importBody("n".repeat(51)), 400, "name", /at most 50 characters/],
      ["a name with spaces", importBody("my key"), 400, "name", /name/],
      ["an unknown field", { ...importBody("k"), key_type: "rsa" }, 400, "key_type", /unknown field/],
      ["an unknown environment", importBody("k", KEYS.ed25519.line, "mars"), 404, "environment_name", /environment "mars" does not exist/],
      ["a name taken in that environment", importBody("taken", KEYS.ecdsa256.line), 409, undefined, /"taken" already exists in environment "env-canada"/],
    ])("import with %s → %s", async (_what, body, status, field, message) => {
      const before = await stored();
      const r = await cloud.api("POST", "/v1/core/keypairs", body, alice);
      expectError(r, status, field);
      expect(r.json.message).toMatch(message);
      expect(await stored()).toBe(before);
    });

    it.each([
      ["an unknown key type", { environment_name: "env-canada", name: "g", key_type: "dsa" }, 400, "key_type"],
      ["an unknown environment", { environment_name: "mars", name: "g" }, 404, "environment_name"],
      ["a taken name", { environment_name: "env-canada", name: "taken" }, 409, undefined],
    ])("generate with %s → %s", async (_what, body, status, field) => {
      const before = await stored();
      expectError(await cloud.api("POST", "/v1/core/keypairs/generate", body, alice), status, field);
      expect(await stored()).toBe(before);
    });

    it("rename: bad name 400, taken name 409, unknown id 404, malformed id 400", async () => {
      const other = (await cloud.api("POST", "/v1/core/keypairs", importBody("other"), alice)).json.keypair;
      const before = await stored();
      expectError(await cloud.api("PUT", `/v1/core/keypair/${other.id}`, { name: "" }, alice), 400, "name");
      expectError(await cloud.api("PUT", `/v1/core/keypair/${other.id}`, {}, alice), 400, "name");
      const taken = await cloud.api("PUT", `/v1/core/keypair/${other.id}`, { name: "taken" }, alice);
      expectError(taken, 409);
      expect(taken.json.error_reason).toBe("already_exist");
      expectError(await cloud.api("PUT", "/v1/core/keypair/999999", { name: "x" }, alice), 404);
      expectError(await cloud.api("PUT", "/v1/core/keypair/abc", { name: "x" }, alice), 400, "id");
      expectError(await cloud.api("DELETE", "/v1/core/keypair/0", undefined, alice), 400, "id");
      expect(await stored()).toBe(before);
    });

    it("list: bad paging and unknown parameters are 400 naming them; no key is 401", async () => {
      expectError(await cloud.api("GET", "/v1/core/keypairs?pageSize=0", undefined, alice), 400, "pageSize");
      expectError(await cloud.api("GET", "/v1/core/keypairs?page=-1", undefined, alice), 400, "page");
      expectError(await cloud.api("GET", "/v1/core/keypairs?environment=x", undefined, alice), 400, "environment");
      expectError(await cloud.api("GET", "/v1/core/keypairs", undefined, null), 401);
      const before = await stored();
      expectError(await cloud.api("POST", "/v1/core/keypairs", importBody("nokey"), null), 401);
      expect(await stored()).toBe(before);
    });
  });

  it("answers another account's key pair with 404 on every route, like one that does not exist", async () => {
    const mine = (await cloud.api("POST", "/v1/core/keypairs", importBody("private-to-alice"), alice)).json.keypair;
    const before = await stored();
    for (const [method, body] of [["GET", undefined], ["PUT", { name: "stolen" }], ["DELETE", undefined]] as const) {
      const theirs = await cloud.api(method, `/v1/core/keypair/${mine.id}`, body, bob);
      expectError(theirs, 404);
      const missing = await cloud.api(method, "/v1/core/keypair/999999", body, bob);
      expect(theirs.json.message.replace(String(mine.id), "N")).toBe(missing.json.message.replace("999999", "N"));
    }
    const bobs = await cloud.api("GET", "/v1/core/keypairs?search=alice", undefined, bob);
    expect(bobs.json).toMatchObject({ count: 0, keypairs: [] });
    // Key pairs belong to their account whatever the role: an admin key lists its own only.
    expect((await cloud.api("GET", "/v1/core/keypairs?search=alice")).json.count).toBe(0);
    expect(await stored()).toBe(before);
    // Bob may use the same name in the same environment: names are per account.
    expect((await cloud.api("POST", "/v1/core/keypairs", importBody("private-to-alice"), bob)).status).toBe(200);
  });
});
