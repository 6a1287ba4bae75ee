// Where and by whom an image may be used. Images are per region: an image of another region is
// refused (400 naming the image and both regions) at VM create, reinstall, attach-iso and
// bootable-volume create, while the images Orbit ships are in every region. A non-public image
// with an owning account is listed and usable only by that account (and admins); to others it
// does not exist. Every refusal changes nothing.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const hasQemuImg = await execa("qemu-img", ["--version"]).then(() => true, () => false);
if (!hasQemuImg) console.warn("image-scope.test: qemu-img is not installed (apt install qemu-utils): skipped");

describe.skipIf(!hasQemuImg)("image scope: regions and owning accounts", () => {
  let cloud: TestCloud;
  let server: Server;
  let base: string;
  let dir: string;
  let alice: string;
  let bob: string;
  let aliceAccount: number;
  const files: Record<string, Buffer> = {};
  const sum = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const ids: Record<string, number> = {};

  /** Registers an image served by the local server and waits until it is Ready. */
  const register = async (name: string, file: "disk.qcow2" | "tools.iso", extra: Record<string, unknown>): Promise<Record<string, any>> => {
    const r = await cloud.api("POST", "/v1/admin/images", {
      name, url: `${base}/${file}`, checksum: sum(files[file]!), type: file.endsWith(".iso") ? "iso" : "qcow2", ...extra,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const ready = await cloud.waitFor(`image ${name} Ready`, async () => {
      const i = (await cloud.api("GET", `/v1/admin/images/${r.json.image.id}`)).json.image;
      return i.status !== "Downloading" && i;
    }, 60_000);
    expect(ready.status, ready.error).toBe("Ready");
    ids[name] = ready.id as number;
    return ready;
  };

  const listed = async (query = "", key?: string): Promise<[string, string][]> => {
    const r = await cloud.api("GET", `/v1/core/images${query}`, undefined, key);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return (r.json.images as { region_name: string; images: { name: string; region_name: string }[] }[])
      .flatMap((g) => g.images.map((i): [string, string] => {
        expect(i.region_name).toBe(g.region_name);
        return [g.region_name, i.name];
      }));
  };

  const create = (key: string | undefined, body: Record<string, unknown>) =>
    cloud.api("POST", "/v1/core/virtual-machines", { flavor_name: "s1.small", count: 1, ...body }, key);

  async function refused(method: string, path: string, body: unknown, key: string | undefined, status: number, message: RegExp): Promise<void> {
    const before = await stateDigest(cloud);
    const r = await cloud.api(method, path, body, key);
    expect(r.status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(r.json)}`).toBe(status);
    expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    expect(r.json.message).toMatch(message);
    expect(await stateDigest(cloud)).toBe(before);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "orbit-e2e-image-scope-"));
    await execa("qemu-img", ["create", "-f", "qcow2", join(dir, "disk.qcow2"), "64M"]);
    files["disk.qcow2"] = await readFile(join(dir, "disk.qcow2"));
    files["tools.iso"] = randomBytes(32 * 1024);
    server = createServer((req, res) => {
      const body = files[(req.url ?? "").slice(1)];
      if (!body) { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    cloud = await startTestCloud({
      hosts: [
        { hostname: "scope-n", uuid: "5c0e0000-0000-4000-8000-0000000000a1", cpus: 16, memoryMib: 64 * 1024, environment: "NORTH-1" },
        { hostname: "scope-s", uuid: "5c0e0000-0000-4000-8000-0000000000b1", cpus: 16, memoryMib: 64 * 1024, environment: "SOUTH-1" },
      ],
    });
    await cloud.waitFor("hosts up", async () => {
      const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[] | undefined;
      return hosts?.length === 2 && hosts.every((h) => h.state === "Up");
    });
    alice = await createUserKey(cloud, "scope-alice");
    bob = await createUserKey(cloud, "scope-bob");
    aliceAccount = (await cloud.api("GET", "/v1/auth/me", undefined, alice)).json.user.account.id as number;
    await register("North Linux", "disk.qcow2", { region: "NORTH-1" });
    await register("South Linux", "disk.qcow2", { region: "SOUTH-1" });
    await register("North Tools", "tools.iso", { region: "NORTH-1", bootable: false });
    await register("South Tools", "tools.iso", { region: "SOUTH-1", bootable: false });
  }, 180_000);

  afterAll(async () => {
    await cloud?.stop();
    await new Promise((r) => server?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  describe("regions", () => {
    it("lists each region's images with Orbit's images in every region's group", async () => {
      const shipped = ["Ubuntu Server 22.04 LTS", "Ubuntu Server 24.04 LTS", "Debian 12", "Windows Server 2022"];
      const north = await listed("?region=NORTH-1", alice);
      expect(north.map(([, n]) => n).sort()).toEqual([...shipped, "North Linux", "North Tools"].sort());
      expect(new Set(north.map(([r]) => r))).toEqual(new Set(["NORTH-1"]));
      const south = await listed("?region=SOUTH-1", alice);
      expect(south.map(([, n]) => n).sort()).toEqual([...shipped, "South Linux", "South Tools"].sort());
      // Unfiltered: each of Orbit's images once per region, each registered one in its own.
      const all = await listed("", alice);
      for (const name of shipped) expect(all.filter(([, n]) => n === name).map(([r]) => r).sort()).toEqual(["NORTH-1", "SOUTH-1"]);
      expect(all.filter(([, n]) => n === "North Linux")).toEqual([["NORTH-1", "North Linux"]]);
      // The migrated seed rows: in every region (""), as the admin sees them.
      const admin = (await cloud.api("GET", "/v1/admin/images")).json.images as Record<string, any>[];
      expect(admin.filter((i) => shipped.includes(i.name)).map((i) => i.region_name)).toEqual(["", "", "", ""]);
      expect(admin.find((i) => i.name === "North Linux")).toMatchObject({ region_name: "NORTH-1", is_public: true, account_id: null });
    });

    it("creates VMs from an image of their region and from Orbit's images in any region", async () => {
      for (const [env, image] of [["NORTH-1", "North Linux"], ["SOUTH-1", "Debian 12"], ["NORTH-1", "Debian 12"]] as const) {
        const r = await create(alice, { name: `ok-${env}-${image.replace(/\W/g, "")}`.slice(0, 40), environment_name: env, image_name: image });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
      }
      await jobsIdle(cloud);
    });

    it("refuses another region's image at create, bootable create and volume create, naming the image and both regions", async () => {
      const other = /image "South Linux" is in region SOUTH-1; environment "NORTH-1" is in region NORTH-1/;
      await refused("POST", "/v1/core/virtual-machines", { name: "far", flavor_name: "s1.small", count: 1, environment_name: "NORTH-1", image_name: "South Linux" }, alice, 400, other);
      await refused("POST", "/v1/core/virtual-machines", {
        name: "far-boot", flavor_name: "s1.small", count: 1, environment_name: "NORTH-1", image_name: "South Linux", create_bootable_volume: true,
      }, alice, 400, other);
      await refused("POST", "/v1/core/volumes", {
        name: "far-vol", environment_name: "NORTH-1", size: 20, volume_type: "local", image_id: ids["South Linux"],
      }, alice, 400, /image "South Linux" is in region SOUTH-1; environment "NORTH-1" is in region NORTH-1/);
      // The admin's placement dry run refuses alike (one look-up); without an image it takes one of the region's.
      await refused("POST", "/v1/admin/placement/dry-run", { flavor_name: "s1.small", environment_name: "NORTH-1", image_name: "South Linux" }, undefined, 400, other);
      const dry = await cloud.api("POST", "/v1/admin/placement/dry-run", { flavor_name: "s1.small", environment_name: "SOUTH-1" });
      expect(dry.status, JSON.stringify(dry.json)).toBe(200);
      // A new account's implicit environment is not created by a refused deploy.
      const carol = await createUserKey(cloud, "scope-carol");
      await refused("POST", "/v1/core/virtual-machines", { name: "far", flavor_name: "s1.small", count: 1, environment_name: "SOUTH-1", image_name: "North Linux" }, carol, 400, /region NORTH-1/);
      expect((await cloud.api("GET", "/v1/core/environments", undefined, carol)).json.environments).toEqual([]);
      // The same volume of its region's image is made.
      const vol = await cloud.api("POST", "/v1/core/volumes", { name: "near-vol", environment_name: "NORTH-1", size: 20, volume_type: "local", image_id: ids["North Linux"] }, alice);
      expect(vol.status, JSON.stringify(vol.json)).toBe(200);
      const shipped = await cloud.api("POST", "/v1/core/volumes", { name: "deb-vol", environment_name: "SOUTH-1", size: 20, volume_type: "local", image_id: (await cloud.api("GET", "/v1/admin/images")).json.images.find((i: any) => i.name === "Debian 12").id }, alice);
      expect(shipped.status, JSON.stringify(shipped.json)).toBe(200);
    });

    it("refuses another region's image at reinstall and attach-iso; accepts its own region's and Orbit's", async () => {
      const made = await create(alice, { name: "north-vm", environment_name: "NORTH-1", image_name: "Debian 12" });
      expect(made.status, JSON.stringify(made.json)).toBe(200);
      const id = made.json.instances[0].id as number;
      await jobsIdle(cloud);
      const stop = await cloud.api("GET", `/v1/core/virtual-machines/${id}/stop`, undefined, alice);
      expect(stop.status, JSON.stringify(stop.json)).toBe(200);
      await jobsIdle(cloud);
      await refused("POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "South Linux" }, alice, 400,
        new RegExp(`image "South Linux" is in region SOUTH-1; virtual machine ${id} is in region NORTH-1`));
      await refused("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids["South Tools"] }, alice, 400,
        new RegExp(`image "South Tools" is in region SOUTH-1; virtual machine ${id} is in region NORTH-1`));
      const iso = await cloud.api("POST", `/v1/core/virtual-machines/${id}/attach-iso`, { image_id: ids["North Tools"] }, alice);
      expect(iso.status, JSON.stringify(iso.json)).toBe(200);
      const re = await cloud.api("POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "North Linux" }, alice);
      expect(re.status, JSON.stringify(re.json)).toBe(200);
      await jobsIdle(cloud);
      const back = await cloud.api("POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "Ubuntu Server 24.04 LTS" }, alice);
      expect(back.status, JSON.stringify(back.json)).toBe(200);
      await jobsIdle(cloud);
    });
  });

  describe("an admin's choice of region", () => {
    it("registers an image in every region with region \"\"; refuses a region the cloud does not know, changing nothing", async () => {
      const all = await register("Everywhere Linux", "disk.qcow2", { region: "" });
      expect(all.region_name).toBe("");
      for (const region of ["NORTH-1", "SOUTH-1"]) expect(await listed(`?region=${region}`)).toContainEqual([region, "Everywhere Linux"]);
      const good = { name: "Nowhere", url: `${base}/disk.qcow2`, checksum: sum(files["disk.qcow2"]!), type: "qcow2" };
      await refused("POST", "/v1/admin/images", { ...good, region: "NORHT-1" }, undefined, 400, /region "NORHT-1" does not exist \(known: .*NORTH-1.*SOUTH-1/);
    });

    it("PATCH moves an image to another region, to every region, to an owner and back; bad changes are refused, changing nothing", async () => {
      const id = ids["Everywhere Linux"]!;
      const patch = (body: unknown) => cloud.api("PATCH", `/v1/admin/images/${id}`, body);
      let r = await patch({ region: "SOUTH-1", description: "south only", labels: ["x"] });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.image).toMatchObject({ region_name: "SOUTH-1", description: "south only", labels: ["x"], is_public: true, account_id: null });
      expect(await listed("?region=NORTH-1")).not.toContainEqual(["NORTH-1", "Everywhere Linux"]);
      // Given to an account: private to it by default.
      r = await patch({ account_id: aliceAccount });
      expect(r.json.image).toMatchObject({ is_public: false, account_id: aliceAccount });
      expect((await listed("", bob)).map(([, n]) => n)).not.toContain("Everywhere Linux");
      expect((await listed("", alice)).map(([, n]) => n)).toContain("Everywhere Linux");
      await refused("PATCH", `/v1/admin/images/${id}`, { account_id: null, is_public: false }, undefined, 400, /private image needs an owning account/);
      await refused("PATCH", `/v1/admin/images/${id}`, { region: "MARS-1" }, undefined, 400, /region "MARS-1" does not exist/);
      await refused("PATCH", `/v1/admin/images/${id}`, { account_id: 999_999 }, undefined, 400, /account 999999 does not exist/);
      await refused("PATCH", `/v1/admin/images/${id}`, {}, undefined, 400, /./);
      await refused("PATCH", "/v1/admin/images/999999", { region: "" }, undefined, 404, /image 999999/);
      await refused("PATCH", `/v1/admin/images/${id}`, { region: "" }, alice, 403, /./);
      // Unowned again (public), in every region.
      r = await patch({ account_id: null, region: "" });
      expect(r.json.image).toMatchObject({ is_public: true, account_id: null, region_name: "" });
      expect((await listed("?region=NORTH-1", bob))).toContainEqual(["NORTH-1", "Everywhere Linux"]);
    });
  });

  describe("owning accounts", () => {
    let privateId: number;

    it("registers an image for an account (not public by default); refuses an unknown account, changing nothing", async () => {
      const img = await register("Alice Private", "disk.qcow2", { region: "NORTH-1", account_id: aliceAccount });
      expect(img).toMatchObject({ is_public: false, account_id: aliceAccount, region_name: "NORTH-1" });
      privateId = img.id as number;
      const good = { name: "Nobody's", url: `${base}/disk.qcow2`, checksum: sum(files["disk.qcow2"]!), type: "qcow2" };
      await refused("POST", "/v1/admin/images", { ...good, account_id: 999_999 }, undefined, 400, /account 999999 does not exist/);
      await refused("POST", "/v1/admin/images", { ...good, account_id: 0 }, undefined, 400, /account_id/);
    });

    it("is listed and read only by its account and admins", async () => {
      expect((await listed("?region=NORTH-1", alice)).map(([, n]) => n)).toContain("Alice Private");
      expect((await listed("", bob)).map(([, n]) => n)).not.toContain("Alice Private");
      expect((await listed("?search=private", bob))).toEqual([]);
      expect((await listed("", undefined)).map(([, n]) => n)).toContain("Alice Private");
      // include_public=false: the account's own images.
      expect(await listed("?include_public=false", alice)).toEqual([["NORTH-1", "Alice Private"]]);
      expect(await listed("?include_public=false", bob)).toEqual([]);
      expect((await cloud.api("GET", `/v1/core/images/${privateId}`, undefined, alice)).json.image).toMatchObject({ name: "Alice Private", is_public: false });
      expect((await cloud.api("GET", `/v1/core/images/${privateId}`)).status).toBe(200);
      await refused("GET", `/v1/core/images/${privateId}`, undefined, bob, 404, new RegExp(`image ${privateId}`));
    });

    it("is usable only by its account (and admins): to others it does not exist, changing nothing", async () => {
      const vm = await create(alice, { name: "alice-private", environment_name: "NORTH-1", image_name: "Alice Private" });
      expect(vm.status, JSON.stringify(vm.json)).toBe(200);
      await jobsIdle(cloud);
      const unknown = await cloud.api("POST", "/v1/core/virtual-machines", { name: "x", flavor_name: "s1.small", count: 1, environment_name: "NORTH-1", image_name: "No Such Image" }, bob);
      await refused("POST", "/v1/core/virtual-machines", { name: "x", flavor_name: "s1.small", count: 1, environment_name: "NORTH-1", image_name: "Alice Private" }, bob, unknown.status, /image "Alice Private" does not exist/);
      await refused("POST", "/v1/core/volumes", { name: "steal", environment_name: "NORTH-1", size: 20, volume_type: "local", image_id: privateId }, bob, 404, new RegExp(`image ${privateId}`));
      const bobVm = await create(bob, { name: "bob-vm", environment_name: "NORTH-1", image_name: "North Linux" });
      expect(bobVm.status, JSON.stringify(bobVm.json)).toBe(200);
      const bobId = bobVm.json.instances[0].id as number;
      await jobsIdle(cloud);
      await refused("POST", `/v1/core/virtual-machines/${bobId}/restore`, { image_name: "Alice Private" }, bob, 404, /image "Alice Private" does not exist/);
      // Admins see every image.
      const admin = await create(undefined, { name: "admin-private", environment_name: "NORTH-1", image_name: "Alice Private" });
      expect(admin.status, JSON.stringify(admin.json)).toBe(200);
      await jobsIdle(cloud);
    });

    it("a non-public ISO of another account is not attachable", async () => {
      const iso = await register("Alice Tools", "tools.iso", { region: "NORTH-1", account_id: aliceAccount, bootable: false });
      const bobVm = await create(bob, { name: "bob-iso", environment_name: "NORTH-1", image_name: "Debian 12" });
      const bobId = bobVm.json.instances[0].id as number;
      await jobsIdle(cloud);
      expect((await cloud.api("GET", `/v1/core/virtual-machines/${bobId}/stop`, undefined, bob)).status).toBe(200);
      await jobsIdle(cloud);
      await refused("POST", `/v1/core/virtual-machines/${bobId}/attach-iso`, { image_id: iso.id }, bob, 404, new RegExp(`image ${iso.id} does not exist`));
    });
  });
});
