// Volume callbacks end to end (Hyperstack's attach/update/delete-callback on volumes): a volume's
// events (created, each status change of an attach and a detach, deleted) POSTed, signed, in
// order, to a local receiver; changing the URL moves what is pending, removing it cancels; bad
// input and another account's volume change nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../manager/src/callbacks/callback-signature.js";
import { startCallbackReceiver, type CallbackReceiver } from "./callback-receiver.js";
import { createUserKey, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let receiver: CallbackReceiver;
let base: string;
let alice: string;
let bob: string;
let vmId: number;

beforeAll(async () => {
  receiver = await startCallbackReceiver();
  base = receiver.base;
  cloud = await startTestCloud({
    hosts: [{ hostname: "vcb-host", uuid: "7cb00000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 }],
    settings: { "callbacks.poll.interval.ms": 20, "callbacks.retry.base.ms": 60_000, "callbacks.retry.max.ms": 60_000 },
  });
  await cloud.waitFor("host up", async () => ((await cloud.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[])?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "vcb-alice");
  bob = await createUserKey(cloud, "vcb-bob");
  const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "vcb-vm", environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
  expect(vm.status, JSON.stringify(vm.json)).toBe(200);
  vmId = vm.json.instances[0].id as number;
  await jobsIdle(cloud);
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  await receiver?.close();
});

const at = (path: string) => receiver.at(path);
const createVolume = async (name: string, extra: Record<string, unknown> = {}) => {
  const r = await cloud.api("POST", "/v1/core/volumes", { name, environment_name: "default", volume_type: "local", size: 5, ...extra }, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.volume.id as number;
};

describe("volume callbacks", () => {
  it("POSTs a volume's life from create to delete, signed and in order", async () => {
    const id = await createVolume("vcb-life", { callback_url: `${base}/life` });
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/attach-volumes`, { volume_ids: [id] }, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/detach-volumes`, { volume_ids: [id] }, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await cloud.api("DELETE", `/v1/core/volumes/${id}`, undefined, alice)).status).toBe(200);
    await cloud.waitFor("the deleted callback", async () => at("/life").some((r) => r.json.type === "deleted"));

    const life = at("/life");
    expect(life.map((r) => r.json.state ? `${r.json.state.from}>${r.json.state.to}` : r.json.type)).toEqual([
      "created", "available>attaching", "attaching>in-use", "in-use>detaching", "detaching>available", "deleted",
    ]);
    const secret = (await cloud.api("GET", "/v1/core/callbacks/signing-secret", undefined, alice)).json.signing_secret.secret as string;
    for (const r of life) {
      expect(verifySignature(secret, String(r.headers["x-orbit-signature"]), r.body), r.body).toBe(true);
      expect(r.headers["x-orbit-event-id"]).toBe(r.json.event_id);
      expect(r.json).toMatchObject({ resource: { type: "volume", id, name: "vcb-life" }, user_id: null, action: null });
    }
    expect(life[2]!.json).toMatchObject({ type: "state_changed", state: { from: "attaching", to: "in-use", status: "in-use" }, reason: expect.stringContaining(`virtual machine ${vmId}`) });
    expect(new Set(life.map((r) => r.json.event_id)).size).toBe(life.length);
  });

  it("attaches, updates and removes a volume's URL; pending deliveries follow the URL or are cancelled", async () => {
    const id = await createVolume("vcb-url");
    const attached = await cloud.api("POST", `/v1/core/volumes/${id}/attach-callback`, { url: `${base}/down` }, alice);
    expect(attached).toMatchObject({ status: 200, json: { status: true, url: `${base}/down` } });
    expect((await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, alice)).json.volume.callback_url).toBe(`${base}/down`);
    // Another URL while one is set: 409; the same again: accepted.
    expect((await cloud.api("POST", `/v1/core/volumes/${id}/attach-callback`, { url: `${base}/other` }, alice)).status).toBe(409);
    expect((await cloud.api("POST", `/v1/core/volumes/${id}/attach-callback`, { url: `${base}/down` }, alice)).status).toBe(200);

    // The receiver fails the attaching event: it waits (retry in 60 s), and the next waits behind it.
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/attach-volumes`, { volume_ids: [id] }, alice)).status).toBe(200);
    await jobsIdle(cloud);
    await cloud.waitFor("a failed first attempt", async () => at("/down").length >= 1);
    const log = await cloud.api("GET", `/v1/core/volumes/${id}/callback-deliveries`, undefined, alice);
    expect(log.status).toBe(200);
    expect(log.json.deliveries.map((d: any) => [d.event_type, d.status])).toEqual([["state_changed", "pending"], ["state_changed", "pending"]]);
    expect(log.json.deliveries[1].attempts[0]).toMatchObject({ attempt: 1, status_code: 503 });

    const updated = await cloud.api("PUT", `/v1/core/volumes/${id}/update-callback`, { url: `${base}/moved` }, alice);
    expect(updated).toMatchObject({ status: 200, json: { url: `${base}/moved` } });
    const moved = (await cloud.api("GET", `/v1/core/volumes/${id}/callback-deliveries`, undefined, alice)).json.deliveries;
    expect(moved.map((d: any) => d.url)).toEqual([`${base}/moved`, `${base}/moved`]);

    expect((await cloud.api("DELETE", `/v1/core/volumes/${id}/delete-callback`, undefined, alice)).status).toBe(200);
    const cancelled = (await cloud.api("GET", `/v1/core/volumes/${id}/callback-deliveries`, undefined, alice)).json.deliveries;
    expect(cancelled.map((d: any) => d.status)).toEqual(["cancelled", "cancelled"]);
    expect((await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, alice)).json.volume.callback_url).toBeNull();
    // Nothing to remove or update any more.
    expect((await cloud.api("DELETE", `/v1/core/volumes/${id}/delete-callback`, undefined, alice)).status).toBe(404);
    expect((await cloud.api("PUT", `/v1/core/volumes/${id}/update-callback`, { url: `${base}/x` }, alice)).status).toBe(409);
  });

  it("refuses bad input and other accounts' volumes, changing nothing", async () => {
    const id = await createVolume("vcb-bad");
    const before = await stateDigest(cloud);
    const cases: [string, string, unknown, string][] = [
      ["POST", `/v1/core/volumes/${id}/attach-callback`, { url: "ftp://example.com/x" }, alice],
      ["POST", `/v1/core/volumes/${id}/attach-callback`, { url: "http://169.254.169.254/latest" }, alice],
      ["POST", `/v1/core/volumes/${id}/attach-callback`, {}, alice],
      ["POST", `/v1/core/volumes/${id}/attach-callback`, { url: `${base}/x`, extra: 1 }, alice],
      ["POST", "/v1/core/volumes/abc/attach-callback", { url: `${base}/x` }, alice],
      ["POST", `/v1/core/volumes/${id}/attach-callback`, { url: `${base}/bob` }, bob],
      ["PUT", `/v1/core/volumes/${id}/update-callback`, { url: `${base}/bob` }, bob],
      ["DELETE", `/v1/core/volumes/${id}/delete-callback`, undefined, bob],
      ["GET", `/v1/core/volumes/${id}/callback-deliveries`, undefined, bob],
      ["POST", "/v1/core/volumes/999999/attach-callback", { url: `${base}/x` }, alice],
    ];
    for (const [method, path, body, key] of cases) {
      const r = await cloud.api(method, path, body, key);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${method} ${path}`).toBeLessThan(500);
      expect(r.json).toMatchObject({ status: false, message: expect.any(String) });
      if (key === bob || path.includes("999999")) expect(r.status, `${method} ${path}`).toBe(404);
    }
    expect(await stateDigest(cloud)).toBe(before);
    expect((await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, alice)).json.volume.callback_url).toBeNull();
  });
});
