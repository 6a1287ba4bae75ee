// GET /v1/core/virtual-machines pages (vm-service.ts list(): the page's ids first, then their
// rows): newest first, pages that neither overlap nor skip, deleted VMs and other accounts' VMs
// left out, the count of all matches, and name search through the trigram index.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, createUserKey, jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
const aliceIds: number[] = [];
let deletedId: number;

async function create(key: string, name: string): Promise<number> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "t1-tiny", image_name: "Debian 12" }, key);
  expect(r.status).toBe(200);
  return r.json.instances[0].id;
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "pages-1", uuid: "9a9e0000-0000-4000-8000-000000000001", cpus: 64, memoryMib: 65536 }] });
  alice = await createUserKey(cloud, "pages-alice");
  bob = await createUserKey(cloud, "pages-bob");
  for (const n of ["web-1", "web-2", "db-1", "web-3", "cache-1", "WEB-4", "web-5", "batch-1"]) aliceIds.push(await create(alice, n));
  await create(bob, "web-bob");
  await jobsIdle(cloud);
  deletedId = aliceIds[2]!; // db-1
  expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${deletedId}`, undefined, alice)).status).toBe(200);
  await jobsIdle(cloud);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function list(key: string, q: string): Promise<{ count: number; ids: number[]; names: string[] }> {
  const r = await cloud.api("GET", `/v1/core/virtual-machines?${q}`, undefined, key);
  expect(r.status).toBe(200);
  return { count: r.json.count, ids: r.json.instances.map((i: any) => i.id), names: r.json.instances.map((i: any) => i.name) };
}

describe("VM list pages", () => {
  it("pages through the caller's live VMs newest first, without overlap or gap", async () => {
    const live = aliceIds.filter((id) => id !== deletedId).sort((a, b) => b - a);
    const pages = await Promise.all([1, 2, 3].map((p) => list(alice, `page=${p}&page_size=3`)));
    expect(pages.map((p) => p.count)).toEqual([7, 7, 7]);
    expect(pages.map((p) => p.ids)).toEqual([live.slice(0, 3), live.slice(3, 6), live.slice(6)]);
    expect((await list(alice, "page=4&page_size=3")).ids).toEqual([]);
  });

  it("searches names case-insensitively, counting every match", async () => {
    const r = await list(alice, "page=1&page_size=2&search=web");
    expect(r.count).toBe(5);
    expect(r.names).toEqual(["web-5", "WEB-4"]);
    // Shorter than a trigram, and a LIKE wildcard taken literally.
    expect((await list(alice, "search=b-")).names.sort()).toEqual(["WEB-4", "web-1", "web-2", "web-3", "web-5"].sort());
    expect((await list(alice, "search=web_")).count).toBe(0);
    expect((await list(alice, "search=nothing-like-it")).count).toBe(0);
  });

  it("shows a user only their account's VMs, and an admin every account's live VMs", async () => {
    expect((await list(bob, "page_size=50")).names).toEqual(["web-bob"]);
    const all = await list(ADMIN_KEY, "page=1&page_size=4");
    expect(all.count).toBe(8);
    expect(all.names).toEqual(["web-bob", "batch-1", "web-5", "WEB-4"]);
  });
});
