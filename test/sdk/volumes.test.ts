// Volumes through Hyperstack's official TypeScript SDK against a manager with a simulated fleet:
// volume types, create, list, get, attach to a running VM, the VM showing it, detach, delete, and
// the refusals in Hyperstack's error envelope. Each answer is checked against the SDK's model.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserKey, expectModel, jobsIdle, refusal, sdkClient, startTestCloud, type SdkClient, type TestCloud } from "./sdk-harness.js";

const ENVIRONMENT = "default";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID0a8G6oQR/jxDpHCRkA3HsqWMxB9yt5JkZHQN4lHlyV volumes@sdk";

let cloud: TestCloud;
let alice: SdkClient;
let bob: SdkClient;
let vmId: number;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "sdk-vol", uuid: "5d000000-0000-4000-8000-0000000000f1", cpus: 16, memoryMib: 32 * 1024 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = sdkClient(cloud, await createUserKey(cloud, "sdk-vol-alice"));
  bob = sdkClient(cloud, await createUserKey(cloud, "sdk-vol-bob"));
  await alice.keypairs.importKeyPair({ name: "vol-key", environment_name: ENVIRONMENT, public_key: PUBLIC_KEY });
  const vm = await alice.vms.createVMs({ name: "vol-vm", environment_name: ENVIRONMENT, flavor_name: "n1-cpu-small", image_name: "Debian 12", key_name: "vol-key", count: 1 });
  vmId = vm.data.instances![0]!.id!;
  await jobsIdle(cloud);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });


describe("volumes through Hyperstack's SDK", () => {
  let volumeId: number;

  it("lists volume types", async () => {
    const r = await alice.volumes.listVolumeTypes();
    expectModel("VolumeTypes", r.data, true);
    expect(r.data.volume_types).toEqual(["local"]);
  });

  it("creates a volume, gets it and finds it in the list", async () => {
    const r = await alice.volumes.createVolume({ name: "sdk-data", environment_name: ENVIRONMENT, size: 5, volume_type: "local", description: "from the SDK" });
    expect(r.status).toBe(200);
    expectModel("Volume", r.data, true);
    volumeId = r.data.volume!.id!;
    expect(r.data.volume).toMatchObject({ name: "sdk-data", size: 5, volume_type: "local", status: "available", bootable: false, description: "from the SDK" });
    expectModel("Volume", (await alice.volumes.getVolume(volumeId)).data, true);
    const list = await alice.volumes.listVolumes("1", "10", "sdk", ENVIRONMENT);
    expectModel("Volumes", list.data, true);
    expect(list.data.volumes!.map((v) => v.id)).toEqual([volumeId]);
  });

  it("attaches the volume to a running VM; the VM shows it; detaches it", async () => {
    const a = await alice.volumeAttachments.attachVolumesToVM(vmId, { volume_ids: [volumeId] });
    expectModel("AttachVolumes", a.data, true);
    expect(a.data.volume_attachments).toMatchObject([{ volume_id: volumeId, instance_id: vmId, status: "attaching" }]);
    await jobsIdle(cloud);
    const vol = (await alice.volumes.getVolume(volumeId)).data.volume!;
    expect(vol.status).toBe("in-use");
    expect(vol.attachments).toMatchObject([{ instance_id: vmId, status: "attached", device: expect.stringMatching(/^\/dev\/vd[a-z]$/) }]);
    const vm = await alice.vms.getVM(vmId);
    expectModel("Instance", vm.data, true);
    expect(vm.data.instance!.volume_attachments).toMatchObject([{ status: "attached", volume: { id: volumeId, name: "sdk-data", size: 5 } }]);
    const d = await alice.volumeAttachments.detachVolumesFromVM(vmId, { volume_ids: [volumeId] });
    expectModel("DetachVolumes", d.data, true);
    await jobsIdle(cloud);
    expect((await alice.volumes.getVolume(volumeId)).data.volume).toMatchObject({ status: "available", attachments: [] });
  });

  it("checks a volume name, protects an attachment (detach refused until unprotected), moves the volume to another environment", async () => {
    const taken = await alice.volumes.fetchVolumeNameAvailability("sdk-data");
    expectModel("NameAvailableModel", taken.data, true);
    expect(taken.data).toMatchObject({ name: "sdk-data", available: false });
    expect((await bob.volumes.fetchVolumeNameAvailability("sdk-data")).data.available).toBe(true);

    const a = await alice.volumeAttachments.attachVolumesToVM(vmId, { volume_ids: [volumeId] });
    await jobsIdle(cloud);
    const attachmentId = a.data.volume_attachments![0]!.id!;
    const p = await alice.volumeAttachments.updateVolumeAttachment(attachmentId, { protected: true });
    expectModel("AttachVolumes", p.data, true);
    expect(p.data.volume_attachments).toMatchObject([{ id: attachmentId, volume_id: volumeId, instance_id: vmId, protected: true }]);
    expect((await refusal(alice.volumeAttachments.detachVolumesFromVM(vmId, { volume_ids: [volumeId] }))).status).toBe(409);
    expect((await refusal(alice.volumes.updateVolume(volumeId, { environment_name: "sdk-vol-other" }))).status).toBe(409);
    await alice.volumeAttachments.updateVolumeAttachment(attachmentId, { protected: false });
    await alice.volumeAttachments.detachVolumesFromVM(vmId, { volume_ids: [volumeId] });
    await jobsIdle(cloud);

    await alice.environments.createEnvironment({ name: "sdk-vol-other", region: ENVIRONMENT });
    const u = await alice.volumes.updateVolume(volumeId, { environment_name: "sdk-vol-other" });
    expectModel("UpdateVolumeResponse", u.data, true);
    expect(u.data.volume).toMatchObject({ id: volumeId, environment: { name: "sdk-vol-other" } });
    expect(u.data.updates).toEqual({ environment_name: "sdk-vol-other" });
    expect((await alice.volumes.getVolume(volumeId)).data.volume!.environment!.name).toBe("sdk-vol-other");
  });

  it("answers refusals in Hyperstack's error envelope", async () => {
    // Thunks, called one at a time: a request made before the loop reaches it would reject unhandled.
    for (const [call, status] of [
      [() => bob.volumes.getVolume(volumeId), 404],
      [() => bob.volumes.deleteVolume(volumeId), 404],
      [() => alice.volumes.getVolume(999999), 404],
      [() => alice.volumes.createVolume({ name: "big", environment_name: ENVIRONMENT, size: 100_000, volume_type: "local" }), 409],
      [() => alice.volumes.createVolume({ name: "x", environment_name: ENVIRONMENT, size: 1, volume_type: "fast" }), 400],
      [() => alice.volumeAttachments.detachVolumesFromVM(vmId, { volume_ids: [volumeId] }), 409],
      [() => bob.volumes.updateVolume(volumeId, { environment_name: ENVIRONMENT }), 404],
      [() => alice.volumes.updateVolume(volumeId, { environment_name: "no-such-env" }), 404],
      [() => alice.volumeAttachments.updateVolumeAttachment(999999, { protected: true }), 404],
    ] as const) {
      const r = await refusal(call());
      expect(r.status, JSON.stringify(r.data)).toBe(status);
      expectModel("ErrorResponseModel", r.data, true);
    }
  });

  it("attaches, updates and deletes a volume's callback URL", async () => {
    const attached = await alice.callbacks.attachCallbackToVolume(volumeId, { url: "http://127.0.0.1:9/orbit-volume" });
    expectModel("AttachCallbackResponse", attached.data, true);
    const updated = await alice.callbacks.updateVolumeCallback(volumeId, { url: "http://127.0.0.1:9/orbit-volume-2" });
    expectModel("AttachCallbackResponse", updated.data, true);
    expect(updated.data.url).toBe("http://127.0.0.1:9/orbit-volume-2");
    expectModel("ResponseModel", (await alice.callbacks.deleteVolumeCallback(volumeId)).data, true);
    expect((await refusal(alice.callbacks.deleteVolumeCallback(volumeId))).status).toBe(404);
    expect((await refusal(bob.callbacks.attachCallbackToVolume(volumeId, { url: "http://127.0.0.1:9/bob" }))).status).toBe(404);
  });

  it("deletes the volume", async () => {
    const r = await alice.volumes.deleteVolume(volumeId);
    expectModel("ResponseModel", r.data, true);
    expect((await refusal(alice.volumes.getVolume(volumeId))).status).toBe(404);
  });
});
