// Event callbacks end to end: a VM's events POSTed, signed, to a local receiver; a receiver that
// fails is retried; a receiver that never answers slows neither the API nor the jobs; the events
// route lists the VM's history; another account sees none of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../manager/src/callbacks/callback-signature.js";
import { startCallbackReceiver, type CallbackReceiver } from "./callback-receiver.js";
import { createUserKey, jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let receiver: CallbackReceiver;
let base: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  receiver = await startCallbackReceiver();
  base = receiver.base;
  cloud = await startTestCloud({
    hosts: [{ hostname: "cb-host", uuid: "cb000000-0000-4000-8000-000000000001", cpus: 32, memoryMib: 65536 }],
    // A VM takes a while to start, so a callback attached right after create sees it happen.
    fleet: { startDelayMs: 800 },
    settings: {
      "callbacks.poll.interval.ms": 20, "callbacks.retry.base.ms": 100, "callbacks.retry.max.ms": 500,
      // Long enough that a job or request waiting for a dead receiver would show.
      "callbacks.attempt.timeout.ms": 20_000,
    },
  });
  await cloud.waitFor("host up", async () => ((await cloud.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[])?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "cb-alice");
  bob = await createUserKey(cloud, "cb-bob");
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  await receiver?.close();
});

async function createVm(name: string, key: string): Promise<number> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12" }, key);
  expect(r.status).toBe(200);
  return r.json.instances[0].id as number;
}

async function waitStatus(id: number, key: string, status: string): Promise<void> {
  await cloud.waitFor(`VM ${id} ${status}`, async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, key)).json.instance?.status === status);
}

async function secretOf(key: string): Promise<string> {
  const r = await cloud.api("GET", "/v1/core/callbacks/signing-secret", undefined, key);
  expect(r.status).toBe(200);
  return r.json.signing_secret.secret as string;
}

const at = (path: string) => receiver.at(path);

describe("event callbacks", () => {
  let vmId: number;

  it("POSTs a VM's events, signed with the account's secret, in order", async () => {
    vmId = await createVm("cb-life", alice);
    const attached = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/attach-callback`, { url: `${base}/life` }, alice);
    expect(attached).toMatchObject({ status: 200, json: { status: true, url: `${base}/life` } });
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.callback_url).toBe(`${base}/life`);
    await waitStatus(vmId, alice, "ACTIVE");
    await cloud.waitFor("deploy succeeded callback", async () => at("/life").some((r) => r.json.type === "action_succeeded"));

    const secret = await secretOf(alice);
    const life = at("/life");
    for (const r of life) {
      expect(verifySignature(secret, String(r.headers["x-orbit-signature"]), r.body), r.body).toBe(true);
      expect(verifySignature(await secretOf(bob), String(r.headers["x-orbit-signature"]), r.body)).toBe(false);
      expect(r.headers["x-orbit-event-id"]).toBe(r.json.event_id);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.json).toMatchObject({ resource: { type: "virtual_machine", id: vmId, name: "cb-life" }, org_id: expect.any(Number) });
    }
    const running = life.find((r) => r.json.state?.to === "Running")!;
    expect(running.json).toMatchObject({ type: "state_changed", state: { from: "Starting", to: "Running", status: "ACTIVE" }, action: null });
    expect(life.at(-1)!.json).toMatchObject({ type: "action_succeeded", action: { name: "deploy", job_id: expect.any(Number), error: null } });
    const times = life.map((r) => Date.parse(r.json.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("lists the VM's history, with the ids its callbacks carried, and the delivery log", async () => {
    const r = await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/events`, undefined, alice);
    expect(r.status).toBe(200);
    const events = r.json.instance_events as Record<string, any>[];
    expect(events.map((e) => [e.type, e.to_state ?? e.action])).toEqual([
      ["created", null], ["action_requested", "deploy"], ["state_changed", "Starting"], ["state_changed", "Running"], ["action_succeeded", "deploy"],
    ]);
    // The user who created the VM acted in its creation and deploy; its state changes are Orbit's.
    const aliceUser = (await cloud.api("GET", "/v1/auth/me", undefined, alice)).json.user.id as number;
    for (const e of events) {
      const userId = e.type === "state_changed" ? null : aliceUser;
      expect(e).toMatchObject({ instance_id: vmId, object: "virtual_machine", org_id: expect.any(Number), user_id: userId, message: expect.any(String), reason: expect.any(String) });
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    }
    const ids = new Set(events.map((e) => e.event_id));
    for (const c of at("/life")) {
      expect(ids).toContain(c.json.event_id);
      expect(c.json.user_id).toBe(events.find((e) => e.event_id === c.json.event_id)!.user_id);
    }

    const log = await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/callback-deliveries`, undefined, alice);
    expect(log.status).toBe(200);
    expect(log.json.deliveries.length).toBe(at("/life").length);
    for (const d of log.json.deliveries) {
      expect(d).toMatchObject({ status: "delivered", url: `${base}/life`, next_attempt_at: null, finished_at: expect.any(String) });
      expect(d.attempts).toEqual([{ attempt: 1, url: `${base}/life`, started_at: expect.any(String), duration_ms: expect.any(Number), status_code: 200, error: null }]);
    }
  });

  it("sends the delete's events, then nothing once the VM is gone", async () => {
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).status).toBe(200);
    await cloud.waitFor("destroy succeeded callback", async () => at("/life").some((r) => r.json.action?.name === "destroy" && r.json.type === "action_succeeded"));
    const tail = at("/life").slice(-4).map((r) => [r.json.type, r.json.state?.to ?? r.json.action?.name]);
    expect(tail).toEqual([["state_changed", "Destroying"], ["action_requested", "destroy"], ["state_changed", "Destroyed"], ["action_succeeded", "destroy"]]);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/events`, undefined, alice)).status).toBe(404);
  });

  it("retries a receiver that answered 500 until it answers 200, and shows each attempt", async () => {
    const id = await createVm("cb-flaky", alice);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-callback`, { url: `${base}/flaky` }, alice)).status).toBe(200);
    await waitStatus(id, alice, "ACTIVE");
    const deliveries = await cloud.waitFor("flaky deliveries delivered", async () => {
      const d = (await cloud.api("GET", `/v1/core/virtual-machines/${id}/callback-deliveries`, undefined, alice)).json.deliveries as Record<string, any>[];
      return d.length > 0 && d.some((x) => x.event_type === "action_succeeded") && d.every((x) => x.status === "delivered") && d;
    });
    for (const d of deliveries) expect(d.attempts.map((a: any) => a.status_code)).toEqual([500, 200]);
    const secret = await secretOf(alice);
    const posts = at("/flaky");
    expect(posts.length).toBe(deliveries.length * 2);
    for (const p of posts) expect(verifySignature(secret, String(p.headers["x-orbit-signature"]), p.body)).toBe(true);
    expect(new Set(posts.map((p) => p.headers["x-orbit-delivery-attempt"]))).toEqual(new Set(["1", "2"]));
    await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, alice);
  });

  it("a receiver that never answers slows neither the API nor the VM's jobs", async () => {
    const t0 = Date.now();
    const id = await createVm("cb-dead", alice);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-callback`, { url: `${base}/dead` }, alice)).status).toBe(200);
    await waitStatus(id, alice, "ACTIVE");
    await cloud.waitFor("a POST to the dead receiver", async () => at("/dead").length > 0);
    const del = Date.now();
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, alice)).status).toBe(200);
    expect(Date.now() - del).toBeLessThan(2000);
    await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).status === 404);
    await jobsIdle(cloud);
    // One attempt waits 20 s for an answer; the VM was created, ran and was deleted well within it.
    expect(Date.now() - t0).toBeLessThan(12_000);
    // Only the first event is in flight: the VM's later ones wait behind it (in order per VM).
    expect(at("/dead")).toHaveLength(1);
  });

  it("signs with both secrets after a rotation", async () => {
    const before = await secretOf(alice);
    const rotated = await cloud.api("POST", "/v1/core/callbacks/signing-secret/rotate", undefined, alice);
    expect(rotated.status).toBe(200);
    expect(rotated.json.signing_secret).toMatchObject({ secret: expect.stringMatching(/^whsec_/), rotated_at: expect.any(String), previous_valid_until: expect.any(String) });
    const after = rotated.json.signing_secret.secret as string;
    expect(after).not.toBe(before);
    const id = await createVm("cb-rotated", alice);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-callback`, { url: `${base}/rotated` }, alice)).status).toBe(200);
    await cloud.waitFor("a callback after the rotation", async () => at("/rotated").length > 0);
    const [first] = at("/rotated");
    expect(String(first!.headers["x-orbit-signature"]).match(/v1=/g)).toHaveLength(2);
    expect(verifySignature(after, String(first!.headers["x-orbit-signature"]), first!.body)).toBe(true);
    expect(verifySignature(before, String(first!.headers["x-orbit-signature"]), first!.body)).toBe(true);
    await waitStatus(id, alice, "ACTIVE");
    await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, alice);
  });
});

describe("callback URLs", () => {
  let id: number;
  beforeAll(async () => {
    id = await createVm("cb-urls", alice);
  });

  it("refuses what is not an http(s) URL, or names a metadata address, with a 400 naming url", async () => {
    for (const url of ["ftp://example.com/x", "not a url", "https://user:pw@example.com/", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/"]) {
      const r = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-callback`, { url }, alice);
      expect(r.status, url).toBe(400);
      expect(r.json, url).toMatchObject({ status: false, code: "invalid_argument", field: "url" });
    }
    for (const body of [{}, { url: "" }, { url: 7 }, { url: "http://example.com/", extra: 1 }]) {
      expect((await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-callback`, body, alice)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.callback_url).toBeNull();
  });

  it("attaches, updates and deletes, each refused when it makes no sense", async () => {
    const path = `/v1/core/virtual-machines/${id}`;
    expect((await cloud.api("PUT", `${path}/update-callback`, { url: `${base}/a` }, alice)).status).toBe(409);
    expect((await cloud.api("DELETE", `${path}/delete-callback`, undefined, alice)).status).toBe(404);
    expect((await cloud.api("POST", `${path}/attach-callback`, { url: `${base}/a` }, alice)).status).toBe(200);
    expect((await cloud.api("POST", `${path}/attach-callback`, { url: `${base}/a` }, alice)).status).toBe(200);
    expect((await cloud.api("POST", `${path}/attach-callback`, { url: `${base}/b` }, alice)).status).toBe(409);
    expect((await cloud.api("PUT", `${path}/update-callback`, { url: `${base}/b` }, alice)).json).toMatchObject({ status: true, url: `${base}/b` });
    expect((await cloud.api("GET", path, undefined, alice)).json.instance.callback_url).toBe(`${base}/b`);
    expect((await cloud.api("DELETE", `${path}/delete-callback`, undefined, alice)).json).toMatchObject({ status: true });
    expect((await cloud.api("GET", path, undefined, alice)).json.instance.callback_url).toBeNull();
  });

  it("another account's VM is not found on every route; each account has its own secret", async () => {
    const path = `/v1/core/virtual-machines/${id}`;
    const answers = [
      await cloud.api("GET", `${path}/events`, undefined, bob),
      await cloud.api("GET", `${path}/callback-deliveries`, undefined, bob),
      await cloud.api("POST", `${path}/attach-callback`, { url: `${base}/bob` }, bob),
      await cloud.api("PUT", `${path}/update-callback`, { url: `${base}/bob` }, bob),
      await cloud.api("DELETE", `${path}/delete-callback`, undefined, bob),
    ];
    for (const a of answers) expect(a.json).toMatchObject({ status: false, code: "not_found" });
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404, 404]);
    expect((await cloud.api("GET", `${path}/events`, undefined, alice)).status).toBe(200);
    expect(await secretOf(alice)).not.toBe(await secretOf(bob));
    expect((await cloud.api("GET", "/v1/core/callbacks/signing-secret", undefined, null)).status).toBe(401);
  });
});
