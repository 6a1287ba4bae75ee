// ISOs on real libvirt through manager and agent (CloudStack's attachIso on a running VM): an ISO
// made with genisoimage is registered from a local HTTP server; attach-iso on the running test
// guest (build-test-guest.sh) inserts it into the domain's ISO cdrom slot (an empty tray since its
// start, apart from the seed cdrom) with virsh change-media, the agent fetching it over gRPC
// (FetchImage); the guest sees the medium appear (its GUEST-DISKS line shows a cdrom of the ISO's
// size), and detach-iso ejects it. Then a VM created from the ISO as bootable: the cdrom is first
// in the domain's boot order and the domain starts. Tests run in order.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { execa } from "execa";
import { XMLParser } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISO_SLOT_ALIAS } from "../../agent/src/drivers/libvirt/domain-xml.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import type { TestCloud } from "../e2e/harness.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { type GuestBoot, kernelBoot, libvirtTestStack, type TestGuestHypervisor } from "./libvirt-test-host.js";

const missing = missingTools([...REQUIRED_TOOLS, "nft", "ip", "genisoimage"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt ISO e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/** The test guest's kernel, except for a VM booting an ISO (its first disk a cdrom): the driver's UEFI boot order. */
const bootIso: GuestBoot = (spec, guest) => (spec.disks[0]?.device === "cdrom" ? undefined : kernelBoot(spec, guest));

type Node = Record<string, unknown>;
const xmlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseAttributeValue: false, isArray: (_n, p) => String(p) === "domain.devices.disk" });
/** The domain's disks as [device, target, source file, alias, boot order]. */
const disksOf = (xml: string): (string | undefined)[][] =>
  ((((xmlParser.parse(xml) as { domain: Node }).domain.devices as Node).disk as Node[]) ?? []).map((d) => [
    d["@_device"] as string, (d.target as Node)["@_dev"] as string, (d.source as Node | undefined)?.["@_file"] as string | undefined,
    (d.alias as Node | undefined)?.["@_name"] as string | undefined, (d.boot as Node | undefined)?.["@_order"] as string | undefined,
  ]);

describe.skipIf(skip)(`ISOs in a running VM's cdrom through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let daemon: SandboxedLibvirtd | undefined;
  let cloud: TestCloud | undefined;
  let hv: TestGuestHypervisor;
  let server: Server | undefined;
  let work: string;
  let iso: Buffer;
  let isoImage: { id: number; path: string };
  let vm: { id: number; uuid: string };
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const instance = async (id: number) => (await cloud!.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
  /** The cdroms (sr*) and their sizes in the guest's last GUEST-DISKS line. */
  const guestCdroms = (): Record<string, number> => {
    const last = serial().split("\n").filter((l) => l.startsWith("GUEST-DISKS")).at(-1) ?? "";
    return Object.fromEntries([...last.matchAll(/\b(sr\d+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  };
  const waitGuest = (what: string, test: (cdroms: Record<string, number>) => boolean, timeoutMs = 60_000) =>
    cloud!.waitFor(what, async () => test(guestCdroms()), timeoutMs).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-2500)}`);
    });
  const waitActive = (id: number) => cloud!.waitFor(`VM ${id} ACTIVE`, async () => {
    const x = await instance(id);
    if (x?.status === "ERROR") throw new Error(`deploy failed: ${x.state_reason}\n${daemon!.logs()}`);
    return x?.status === "ACTIVE";
  }, 90_000);
  const jobsDone = () => cloud!.waitFor("jobs done", async () => {
    const r = await cloud!.manager.database.db.query.jobs.findMany();
    return r.every((j) => j.status === "succeeded" || j.status === "failed") ? r : undefined;
  }, 30_000);

  const stack = libvirtTestStack();
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage, nftables)`);
    // A short work dir: the console socket (<instances>/<uuid>/console.sock) must fit sun_path's 107 bytes.
    ({ cloud, hv, daemon, work } = await stack.start({ workPrefix: "orbit-e2e-iso-", hostname: "libvirt-iso-host", images: true, boot: bootIso }));
    // The ISO: one file of 1 MiB (so its size is no seed's), served over HTTP.
    mkdirSync(join(work, "iso-root"));
    writeFileSync(join(work, "iso-root", "hello.txt"), Buffer.alloc(1024 * 1024, "orbit-iso\n"));
    await execa("genisoimage", ["-quiet", "-o", join(work, "tools.iso"), "-V", "ORBITTOOLS", "-J", "-r", join(work, "iso-root")]);
    iso = readFileSync(join(work, "tools.iso"));
    server = createServer((req, res) => {
      if (req.url !== "/tools.iso") { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": iso.length }).end(iso);
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));

    const addr = server.address();
    const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/tools.iso`;
    const r = await cloud.api("POST", "/v1/admin/images", {
      name: "tools", url, checksum: `sha256:${createHash("sha256").update(iso).digest("hex")}`, type: "iso", bootable: true,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const ready = await cloud.waitFor("the ISO Ready", async () => {
      const img = (await cloud!.api("GET", `/v1/admin/images/${r.json.image.id}`)).json.image;
      if (img?.status === "Error") throw new Error(`image download failed: ${img.error}`);
      return img?.status === "Ready" ? img : undefined;
    }, 30_000);
    isoImage = { id: ready.id as number, path: ready.path as string };
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`ISO e2e on QEMU/TCG: ${timings.join(", ")}`);
    if (server) await new Promise((r) => server!.close(r));
    await stack.stop();
  }, 60_000);

  it("a running guest sees the ISO appear in its cdrom on attach-iso and go on detach-iso; the seed cdrom stays", async () => {
    // A disk image for the root: a blank qcow2 in the host's images dir (the guest boots from its kernel).
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "iso-a", flavor_name: "t1-tiny", image_name: await diskImage() });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    vm = { id: created.json.instances[0].id, uuid: created.json.instances[0].uuid };
    await waitActive(vm.id);
    await waitGuest("GUEST-DISKS with the cdroms", (c) => Object.keys(c).length >= 2);
    const seedSize = statSync(join(work, "instances", vm.uuid, "seed.iso")).size;
    expect(seedSize).not.toBe(iso.length);
    // The slot is an empty tray (no source) apart from the seed cdrom.
    // (The live XML has libvirt's own aliases on the other devices.)
    const before = disksOf(await hv.virsh.run(["dumpxml", vm.uuid])).filter((d) => d[0] === "cdrom").map(([dev, target, source, alias]) => [dev, target, source, alias === ISO_SLOT_ALIAS]);
    expect(before).toEqual([
      ["cdrom", "sda", undefined, true],
      ["cdrom", "sdb", join(work, "instances", vm.uuid, "seed.iso"), false],
    ]);
    // The guest's cdroms: the empty slot (0) and the seed.
    const boot = guestCdroms();
    expect(Object.values(boot).sort((x, y) => x - y)).toEqual([0, seedSize]);

    let t = Date.now();
    const a = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/attach-iso`, { image_id: isoImage.id });
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    expect(a.json.message).toMatch(/inserted into the running VM's cdrom/);
    await waitGuest("the ISO in a guest cdrom", (c) => Object.values(c).sort((x, y) => x - y).join() === `${seedSize},${iso.length}`);
    timings.push(`attach-iso to the guest seeing the medium ${Date.now() - t} ms`);
    // Fetched from the manager over gRPC, byte for byte; in the live and the persistent definition.
    const fetched = join(work, "images", isoImage.path);
    expect(readFileSync(fetched).equals(iso)).toBe(true);
    for (const args of [["dumpxml", vm.uuid], ["dumpxml", "--inactive", vm.uuid]]) {
      expect(disksOf(await hv.virsh.run(args)).filter((d) => d[3] === ISO_SLOT_ALIAS).map((d) => d[2])).toEqual([fetched]);
    }
    expect(Object.values(guestCdroms())).toContain(seedSize);
    expect((await instance(vm.id))).toMatchObject({ status: "ACTIVE", iso: { id: isoImage.id, name: "tools" } });

    t = Date.now();
    const d = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/detach-iso`);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await waitGuest("the ISO gone from the guest (an empty cdrom again)", (c) => Object.values(c).sort((x, y) => x - y).join() === `0,${seedSize}`);
    timings.push(`detach-iso to the medium gone in the guest ${Date.now() - t} ms`);
    expect(disksOf(await hv.virsh.run(["dumpxml", vm.uuid])).filter((x) => x[3] === ISO_SLOT_ALIAS).map((x) => x[2])).toEqual([undefined]);
    const jobs = await jobsDone();
    expect(jobs.filter((j) => j.kind === "vm.iso").map((j) => j.status)).toEqual(["succeeded", "succeeded"]);
    expect(await instance(vm.id)).toMatchObject({ status: "ACTIVE", iso: null });
  }, 180_000);

  it("a VM created from the bootable ISO has the cdrom first in its boot order and starts", async () => {
    // The sandbox host has one CPU's capacity: the first VM makes room.
    const del = await cloud!.api("DELETE", `/v1/core/virtual-machines/${vm.id}`);
    expect(del.status, JSON.stringify(del.json)).toBeLessThan(300);
    await cloud!.waitFor("the first VM gone", async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).status === 404, 60_000);
    const t = Date.now();
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "iso-boot", flavor_name: "t1-tiny", image_name: "tools" });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const id = created.json.instances[0].id as number;
    const uuid = created.json.instances[0].uuid as string;
    await waitActive(id);
    timings.push(`ISO-boot VM create to ACTIVE ${Date.now() - t} ms`);
    const xml = await hv.virsh.run(["dumpxml", uuid]);
    // By boot order (libvirt lists disks by bus and target, not as defined): the ISO, then the blank root; the seed never boots.
    const booted = disksOf(xml).filter((d) => d[4] !== undefined).sort((a, b) => Number(a[4]) - Number(b[4])).map(([dev, target, source, , order]) => [dev, target, source, order]);
    expect(booted).toEqual([
      ["cdrom", "sda", join(work, "images", isoImage.path), "1"],
      ["disk", "vda", join(work, "instances", uuid, "root.qcow2"), "2"],
    ]);
    expect(disksOf(xml).find((d) => d[1] === "sda")![3]).toBe(ISO_SLOT_ALIAS);
    expect(xml).toMatch(/<loader[^>]*type=['"]pflash['"]/);
    expect((await hv.virsh.run(["domstate", uuid])).trim()).toBe("running");
  }, 120_000);

  /** Registers a blank 64 MiB qcow2 as a disk image (once) and returns its name. */
  let diskImageName: string | undefined;
  async function diskImage(): Promise<string> {
    if (diskImageName) return diskImageName;
    const source = join(work, "blank.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", source, "64M"]);
    const disk = readFileSync(source);
    const blank = createServer((_req, res) => { res.writeHead(200, { "content-length": disk.length }).end(disk); });
    await new Promise<void>((r) => blank.listen(0, "127.0.0.1", r));
    try {
      const addr = blank.address();
      const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/blank.qcow2`;
      const r = await cloud!.api("POST", "/v1/admin/images", { name: "Blank", url, checksum: `sha256:${createHash("sha256").update(disk).digest("hex")}`, type: "qcow2", os_type: "linux", version: "1" });
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      await cloud!.waitFor("the disk image Ready", async () => (await cloud!.api("GET", `/v1/admin/images/${r.json.image.id}`)).json.image?.status === "Ready", 30_000);
    } finally {
      await new Promise((r) => blank.close(r));
    }
    diskImageName = "Blank";
    return diskImageName;
  }
});
