// ISOs (CloudStack's attachIso/detachIso and ISO boot): the admin registers ISO images served by a
// local HTTP server; a user puts one in a running VM's cdrom (changed at once) or a stopped VM's
// (the domain gets it at its next start) and takes it out; a VM created from a bootable ISO has a blank root disk and boots the cdrom first
// until the ISO is detached. Refusals are 4xx naming the problem and change nothing.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { desc, eq } from "drizzle-orm";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError } from "#shared/errors.js";
import { jobs } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

// The manager's download job reads every image with qemu-img (an ISO must read as raw bytes).
const hasQemuImg = await execa("qemu-img", ["--version"]).then(() => true, () => false);
if (!hasQemuImg) console.warn("iso.test: qemu-img is not installed (apt install qemu-utils): skipped");

describe.skipIf(!hasQemuImg)("ISOs in a VM's cdrom", () => {
  let cloud: TestCloud;
  let server: Server;
  let alice: string;
  let bob: string;
  const iso = randomBytes(64 * 1024);
  const isoSum = `sha256:${createHash("sha256").update(iso).digest("hex")}`;
  const ids: Record<string, number> = {};
  const paths: Record<string, string> = {};

  const register = async (name: string, bootable: boolean): Promise<void> => {
    const addr = server.address();
    const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/${name}.iso`;
    const r = await cloud.api("POST", "/v1/admin/images", { name, url, checksum: isoSum, type: "iso", bootable });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const id = r.json.image.id as number;
    const ready = await cloud.waitFor(`${name} Ready`, async () => {
      const img = (await cloud.api("GET", `/v1/admin/images/${id}`)).json.image;
      return img.status === "Ready" ? img : img.status === "Error" ? { failed: img.error } : undefined;
    }, 60_000);
    expect(ready.failed).toBeUndefined();
    expect(ready.format).toBe("iso");
    ids[name] = id;
    paths[name] = ready.path as string;
  };

  const hv = () => cloud.fleet.hypervisors[0]!;
  const instance = async (id: number, key = alice) => {
    const r = await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, key);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return r.json.instance;
  };
  const power = async (id: number, action: "start" | "stop") => {
    const r = await cloud.api("GET", `/v1/core/virtual-machines/${id}/${action}`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
  };
  const create = async (body: Record<string, unknown>, key = alice) =>
    cloud.api("POST", "/v1/core/virtual-machines", { flavor_name: "s1.small", count: 1, ...body }, key);

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (!req.url?.endsWith(".iso")) { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": iso.length }).end(iso);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cloud = await startTestCloud({ hosts: [{ hostname: "iso-a", uuid: "1a9e0000-0000-4000-8000-0000000000b1", cpus: 16, memoryMib: 64 * 1024 }] });
    await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
    await register("tools", false);
    await register("netinst", true);
    alice = await createUserKey(cloud, "iso-alice");
    bob = await createUserKey(cloud, "iso-bob");
  }, 120_000);

  afterAll(async () => {
    await cloud?.stop();
    await new Promise((r) => server?.close(r));
  });

  it("changes a running VM's cdrom at once; attaches an ISO to a stopped VM: its next start's spec has the cdrom after the root disk; detach takes it out", async () => {
    const r = await create({ name: "iso-vm", image_name: "Debian 12" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    const uuid = r.json.instances[0].uuid as string;
    await jobsIdle(cloud);
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", iso: null });

    // Running: the domain's cdrom slot gets the ISO at once (a vm.iso job), and loses it on detach.
    expect(hv().isoMedia(uuid)).toBe("");
    const live = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.tools }, alice);
    expect(live.status, JSON.stringify(live.json)).toBe(200);
    expect(live.json).toMatchObject({ iso: { id: ids.tools, name: "tools" }, message: expect.stringMatching(/inserted into the running VM's cdrom/) });
    await jobsIdle(cloud);
    expect(hv().isoMedia(uuid)).toBe(paths.tools);
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", iso: { id: ids.tools, name: "tools" } });
    const out = await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice);
    expect(out.status, JSON.stringify(out.json)).toBe(200);
    expect(out.json.message).toMatch(/ejected from the running VM's cdrom/);
    await jobsIdle(cloud);
    expect(hv().isoMedia(uuid)).toBe("");
    const isoJobs = (await cloud.manager.database.db.select().from(jobs).where(eq(jobs.kind, "vm.iso")).orderBy(jobs.id)).map((j) => j.status);
    expect(isoJobs).toEqual(["succeeded", "succeeded"]);

    // A host that fails the media change: the job fails, the VM runs on as it was (not Error);
    // the ISO stays attached in the manager, so its next start has it.
    const sim = hv();
    const real = sim.changeMedia.bind(sim);
    sim.changeMedia = () => Promise.reject(new HypervisorError("change-media refused", { retryable: false }));
    try {
      const failing = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.tools }, alice);
      expect(failing.status, JSON.stringify(failing.json)).toBe(200);
      await jobsIdle(cloud);
    } finally {
      sim.changeMedia = real;
    }
    const [failed] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.kind, "vm.iso")).orderBy(desc(jobs.id)).limit(1);
    expect(failed!.status).toBe("failed");
    expect(hv().isoMedia(uuid)).toBe("");
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", iso: { id: ids.tools } });
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);

    // Hibernated: refused, naming the state (a restore continues with the config it was saved with).
    const hib = await cloud.api("GET", `/v1/core/virtual-machines/${id}/hibernate`, undefined, alice);
    expect(hib.status, JSON.stringify(hib.json)).toBe(200);
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const hibernated = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.tools }, alice);
    expect(hibernated.status, JSON.stringify(hibernated.json)).toBe(409);
    expect(hibernated.json.message).toMatch(/while Hibernated: only a Stopped or Running VM's cdrom changes/);
    expect(await stateDigest(cloud)).toBe(before);
    await power(id, "start");

    await power(id, "stop");
    const a = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.tools }, alice);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    expect(a.json.iso).toEqual({ id: ids.tools, name: "tools" });
    expect(await instance(id)).toMatchObject({ iso: { id: ids.tools, name: "tools" } });

    await power(id, "start");
    const cdroms = hv().specOf(uuid)!.disks.filter((d) => d.device === "cdrom");
    expect(cdroms).toEqual([expect.objectContaining({ device: "cdrom", sourcePath: paths.tools, format: "raw", owned: false, backingPath: "" })]);
    expect(paths.tools).toBe(`image-${ids.tools}.iso`);

    await power(id, "stop");
    const d = await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    expect(d.json.iso).toEqual({ id: ids.tools, name: "tools" });
    expect(await instance(id)).toMatchObject({ iso: null });
    await power(id, "start");
    expect(hv().specOf(uuid)!.disks.filter((x) => x.device === "cdrom")).toEqual([]);
  });

  it("refuses what makes no sense with a 4xx naming the problem, changing nothing", async () => {
    const r = await create({ name: "iso-refusals", image_name: "Debian 12", start: false });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    await jobsIdle(cloud);
    const attached = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.tools }, alice);
    expect(attached.status, JSON.stringify(attached.json)).toBe(200);
    const images = (await cloud.api("GET", "/v1/admin/images")).json.images as { id: number; name: string }[];
    const debian = images.find((i) => i.name === "Debian 12")!.id;

    const cases: [string, string, unknown, string, number, RegExp][] = [
      ["second ISO", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.netinst }, alice, 409, /already has ISO image/],
      ["disk image", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: debian }, alice, 400, /not an ISO/],
      ["unknown image", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: 999999 }, alice, 404, /image 999999/],
      ["no image_id", `/v1/core/virtual-machines/${id}/attach-iso`, {}, alice, 400, /image_id/],
      ["another account's VM", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids.netinst }, bob, 404, /virtual machine/],
      ["another account's detach", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, bob, 404, /virtual machine/],
      ["unknown VM", "/v1/core/virtual-machines/999999/detach-iso", undefined, alice, 404, /virtual machine/],
    ];
    const before = await stateDigest(cloud);
    for (const [what, path, body, key, status, message] of cases) {
      const res = await cloud.api("POST", path, body, key);
      expect(res.status, `${what}: ${JSON.stringify(res.json)}`).toBe(status);
      expect(errorShapeProblems(res.status, res.json), what).toEqual([]);
      expect(JSON.stringify(res.json), what).toMatch(message);
    }
    expect(await stateDigest(cloud)).toBe(before);
    expect(await instance(id)).toMatchObject({ iso: { id: ids.tools, name: "tools" } });

    const detached = await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice);
    expect(detached.status, JSON.stringify(detached.json)).toBe(200);
    const empty = await stateDigest(cloud);
    const again = await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice);
    expect(again.status, JSON.stringify(again.json)).toBe(409);
    expect(again.json.message).toMatch(/has no ISO attached/);
    expect(await stateDigest(cloud)).toBe(empty);
  });

  it("creates a VM from a bootable ISO: a blank root disk of the flavor's size, the cdrom boots first until detached", async () => {
    const before = await stateDigest(cloud);
    const notBootable = await create({ name: "from-tools", image_name: "tools" });
    expect(notBootable.status, JSON.stringify(notBootable.json)).toBe(400);
    expect(notBootable.json.message).toMatch(/not bootable/);
    const onVolume = await create({ name: "from-iso-vol", image_name: "netinst", create_bootable_volume: true });
    expect(onVolume.status, JSON.stringify(onVolume.json)).toBe(400);
    expect(onVolume.json.message).toMatch(/blank root disk/);
    expect(await stateDigest(cloud)).toBe(before);

    const r = await create({ name: "installer", image_name: "netinst" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    const uuid = r.json.instances[0].uuid as string;
    await jobsIdle(cloud);
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", image: { name: "netinst" }, iso: { id: ids.netinst, name: "netinst" } });
    // The spec's order is the boot order (domain-xml numbers <boot order> by position).
    expect(hv().specOf(uuid)!.disks.map((d) => [d.id, d.device, d.sourcePath, d.backingPath, d.sizeGib, d.owned])).toEqual([
      ["iso", "cdrom", paths.netinst, "", 0, false],
      ["root", "disk", "", "", 20, true],
    ]);
    const root = hv().ownedDiskOf(uuid, "root");
    expect(root).toMatchObject({ origin: "blank", from: "" });

    // In a cdrom: the image is not deletable; a reinstall neither keeps the ISO as the disk's image nor installs onto one.
    const refusals: [string, string, unknown, number, RegExp][] = [
      ["DELETE", `/v1/admin/images/${ids.netinst}`, undefined, 409, /used by 1 virtual machine/],
      ["POST", `/v1/core/virtual-machines/${id}/restore`, undefined, 409, /created from ISO "netinst": name a disk image/],
      ["POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "tools" }, 400, /is an ISO: a reinstall/],
    ];
    const settled = await stateDigest(cloud);
    for (const [method, path, body, status, message] of refusals) {
      const res = await cloud.api(method, path, body, method === "DELETE" ? undefined : alice);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBe(status);
      expect(res.json.message).toMatch(message);
    }
    expect(await stateDigest(cloud)).toBe(settled);

    await power(id, "stop");
    const d = await cloud.api("POST", `/v1/core/virtual-machines/${id}/detach-iso`, undefined, alice);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await power(id, "start");
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", iso: null });
    expect(hv().specOf(uuid)!.disks.map((x) => [x.id, x.device])).toEqual([["root", "disk"]]);
    // The installed disk is kept, not made anew.
    expect(hv().ownedDiskOf(uuid, "root")).toEqual(root);
  });
});
