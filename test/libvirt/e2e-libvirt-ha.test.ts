// High availability with fencing (issue 15) on two real libvirt hosts (libvirt-two-host-stack.ts:
// a namespace, a sandboxed libvirtd and a real orbit-agent process each, shared storage with the
// storage heartbeat directory), with a 1 s heartbeat. Throughout, an OverlapPoller lists both
// hosts' running domains every 200 ms and the test fails on any VM seen running on both.
//  1. Power loss: the HA VM's host loses its agent, libvirtd and QEMU (SIGKILL) and its cable; the
//     manager finds it Suspect, its neighbour cannot reach it and its storage heartbeat goes
//     stale: Down within 10 s, the VM Running on the other host within 30 s (issue 15's targets).
//  2. Isolation: the host keeps running but loses its network and its storage heartbeat (its
//     heartbeat file made immutable): its agent fences itself (destroys its domains) before the
//     other host starts the VM. Then the host comes back: its stale copy is undefined (disk kept)
//     and never started; and a crash of the VM (its QEMU killed) restarts it on its host.
// Each case has a stack of its own (a dead host is not brought back here).
import { randomUUID } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { type LibvirtTwoHostStack, libvirtTwoHostStack, type TestHost, type TestVm } from "./libvirt-two-host-stack.js";
import { OverlapPoller } from "./overlap-poller.js";
import { REQUIRED_TOOLS } from "./sandboxed-libvirtd.js";

const missing = missingTools([...REQUIRED_TOOLS, "ip", "nft", "chattr"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt HA e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/**
 * Issue 15's targets with a 1 s heartbeat. The times are printed (BENCHMARKS.md records them from
 * a quiet machine); the test's waits allow 20-30 s more, since a loaded CI machine runs QEMU/TCG,
 * the daemons and the processes slower: what it asserts is the order (fenced before started
 * elsewhere, never on two hosts), not the speed.
 */
const DOWN_WITHIN_MS = 10_000;
const RUNNING_ELSEWHERE_WITHIN_MS = 30_000;

const HA_SETTINGS = { "ping.interval": 1 };

/** One case's stack, its HA VM booted, and the poller running. */
function haCase(workPrefix: string) {
  const stack = libvirtTwoHostStack();
  const c = {
    s: undefined as unknown as LibvirtTwoHostStack,
    vm: undefined as unknown as TestVm,
    victim: undefined as unknown as TestHost,
    survivor: undefined as unknown as TestHost,
    poller: undefined as OverlapPoller | undefined,
    hostState: async (h: TestHost): Promise<string> =>
      ((await c.s.cloud.api("GET", "/v1/admin/hosts")).json.hosts as Record<string, any>[]).find((x) => x.id === h.id)!.state as string,
    hostUuid: async (h: TestHost): Promise<string> =>
      ((await c.s.cloud.api("GET", "/v1/admin/hosts")).json.hosts as Record<string, any>[]).find((x) => x.id === h.id)!.uuid as string,
    /** Polls until `fn` holds; the time it first held, from `t0`. */
    timeUntil: async (what: string, t0: number, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> => {
      await c.s.cloud.waitFor(what, fn, timeoutMs).catch(async (e: unknown) => {
        const vm = await c.s.instance(c.vm.id).catch(() => undefined);
        // Where the allocator would put a VM of its flavor now, and why not elsewhere.
        const dry = await c.s.cloud.api("POST", "/v1/admin/placement/dry-run", { flavor_name: "t1-tiny", image_name: "Debian 12" }).catch(() => undefined);
        throw new Error(`${String(e)}\n--- VM: ${JSON.stringify({ status: vm?.status, host: vm?.host, reason: vm?.state_reason })}\n--- placement dry-run: ${JSON.stringify(dry?.json.result)}\n--- poller: ${c.poller?.samples.length ?? 0} samples, last ${JSON.stringify(c.poller?.samples.at(-1))}\n${c.s.logs()}`);
      });
      return Date.now() - t0;
    },
    /** The VM Running (ACTIVE) on `h` by the API and on h's daemon. */
    runningOn: async (h: TestHost): Promise<boolean> => {
      const i = await c.s.instance(c.vm.id);
      return i.status === "ACTIVE" && i.host === h.hostname && (await h.running()).includes(c.vm.uuid);
    },
  };
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason}`);
    c.s = await stack.start({
      workPrefix, settings: HA_SETTINGS,
      agentConfig: ({ heartbeatDir }) => ({ ha: { storage_heartbeat_dir: heartbeatDir } }),
    });
    c.vm = await c.s.deploy({ name: "ha", ha_enabled: true });
    c.victim = c.s.host((await c.s.instance(c.vm.id)).host as string);
    c.survivor = c.s.hosts.find((h) => h !== c.victim)!;
    await c.s.booted(c.vm);
    // Both agents write their storage heartbeat on the shared directory.
    for (const h of c.s.hosts) {
      const file = join(c.s.heartbeatDir, (await c.hostUuid(h)).toLowerCase());
      await c.s.cloud.waitFor(`${h.hostname}'s storage heartbeat`, async () => existsSync(file), 10_000);
    }
    c.poller = new OverlapPoller(c.s.hosts);
    c.poller.start();
  }, 240_000);
  afterAll(async () => {
    await c.poller?.stop();
    // The immutable heartbeat files of case 2 would outlive the work dir's removal.
    if (c.s) await execa("chattr", ["-R", "-i", c.s.heartbeatDir], { reject: false });
    await stack.stop();
    expect(await c.s?.footprint() ?? []).toEqual([]);
  }, 60_000);
  return c;
}

/**
 * The poller ran throughout and never saw the VM on both hosts; how densely it sampled. A sample
 * lists both hosts with virsh (tens of ms each, more on a loaded machine): the largest gap between
 * two samples bounds how short an overlap could go unseen.
 */
async function expectNeverTwice(c: ReturnType<typeof haCase>, sinceMs: number): Promise<string> {
  await c.poller!.stop();
  const p = c.poller!;
  expect(p.errors, p.errors.join("\n")).toEqual([]);
  expect(p.overlaps, p.overlaps.join("\n")).toEqual([]);
  const at = p.samples.filter((x) => x.atMs >= sinceMs).map((x) => x.atMs);
  const gaps = at.slice(1).map((t, i) => t - at[i]!).sort((a, b) => a - b);
  const maxGap = gaps.at(-1) ?? Infinity;
  const median = gaps[Math.floor(gaps.length / 2)] ?? Infinity;
  expect(at.length).toBeGreaterThan(10);
  // A list of the fencing host waits while libvirt destroys its domain (the domain's job lock):
  // one gap of ~2 s was seen there on a loaded machine. The handover itself is proved by a sample
  // that saw the VM on neither host (firstGone < firstSeen), whatever the gaps.
  expect(maxGap, `samples ${median} ms apart (median), ${maxGap} ms at most`).toBeLessThanOrEqual(3000);
  return `${at.length} overlap samples, ${median} ms apart (median), ${maxGap} ms at most, no VM on two hosts`;
}

describe.skipIf(skip)(`HA on two real libvirt hosts: a host that loses power${reason ? ` (${reason})` : ""}`, () => {
  const c = haCase("orbit-ha1-");
  const figures: string[] = [];
  afterAll(() => { if (figures.length) console.info(`HA, host power loss (QEMU/TCG, ping.interval 1 s): ${figures.join(", ")}`); });

  it("its HA VM is restarted on the other host: host Down within 10 s, VM Running there within 30 s, never on both", async () => {
    const { s, vm, victim, survivor } = c;
    const t0 = Date.now();
    await victim.powerLoss();
    await s.cloud.waitFor(`${victim.hostname}'s QEMU dead`, async () => victim.daemon.liveQemu().length === 0, 5000);
    let suspectMs: number | undefined;
    const downMs = await c.timeUntil(`${victim.hostname} Down`, t0, async () => {
      const st = await c.hostState(victim);
      if (st === "Suspect") suspectMs ??= Date.now() - t0;
      return st === "Down";
    }, DOWN_WITHIN_MS + 20_000);
    const runningMs = await c.timeUntil(`the HA VM Running on ${survivor.hostname}`, t0, () => c.runningOn(survivor), RUNNING_ELSEWHERE_WITHIN_MS + 30_000);
    figures.push(`Suspect after ${suspectMs ?? "?"} ms`, `Down after ${downMs} ms`, `Running on the other host after ${runningMs} ms`);

    // The guest boots again there (from the shared disk; its serial log goes on) and answers on its console.
    await s.booted(vm, 2);
    figures.push(`guest booted again there after ${Date.now() - t0} ms`);
    await s.booted(vm, 2);
    const word = `ha-${randomUUID().slice(0, 8)}`;
    expect(await s.typeOnConsole(vm, word)).toBe(`GUEST-ECHO ${word}`);
    figures.push(await expectNeverTwice(c, t0));
  }, 180_000);
});

describe.skipIf(skip)(`HA on two real libvirt hosts: a host cut off from network and storage fences itself${reason ? ` (${reason})` : ""}`, () => {
  const c = haCase("orbit-ha2-");
  const figures: string[] = [];
  afterAll(() => { if (figures.length) console.info(`HA, isolated host (QEMU/TCG, ping.interval 1 s): ${figures.join(", ")}`); });

  it("its agent destroys the domain before the other host starts the VM, and the host is Down", async () => {
    const { s, vm, victim, survivor } = c;
    // Its storage heartbeat cannot be written any more (root ignores permissions, not the
    // immutable flag): the file and the temp file it is written through both immutable.
    const file = join(s.heartbeatDir, (await c.hostUuid(victim)).toLowerCase());
    const t0 = Date.now();
    // The agent may rename its own temp file over the heartbeat between our write and chattr: again until both hold.
    for (let attempt = 1; ; attempt++) {
      try {
        writeFileSync(`${file}.tmp`, "");
        await execa("chattr", ["+i", file, `${file}.tmp`]);
        break;
      } catch (e) {
        if (attempt >= 10) throw e;
      }
    }
    await s.lan.cut(victim.net);
    const fencedMs = await c.timeUntil(`the domain gone from ${victim.hostname} (self-fencing)`, t0,
      async () => !(await victim.running()).includes(vm.uuid), 30_000);
    const downMs = await c.timeUntil(`${victim.hostname} Down`, t0, async () => (await c.hostState(victim)) === "Down", DOWN_WITHIN_MS + 20_000);
    const runningMs = await c.timeUntil(`the HA VM Running on ${survivor.hostname}`, t0, () => c.runningOn(survivor), RUNNING_ELSEWHERE_WITHIN_MS + 30_000);
    figures.push(`fenced after ${fencedMs} ms`, `Down after ${downMs} ms`, `Running on the other host after ${runningMs} ms`);
    // The agent still runs: it fenced, it did not die.
    expect(victim.agent.handle.exit()).toBeUndefined();
    // In the poller's samples: gone from the victim strictly before it first ran on the survivor.
    // The poller samples on its own clock: its first sample with the VM on the survivor may come
    // a moment after the check above saw it (seen once in CI on a loaded machine).
    await c.s.cloud.waitFor("the poller's sample with the VM on the survivor", async () => c.poller!.firstSeen(survivor.hostname, vm.uuid, t0) !== undefined, 10_000);
    const gone = c.poller!.firstGone(victim.hostname, vm.uuid, t0);
    const started = c.poller!.firstSeen(survivor.hostname, vm.uuid, t0);
    expect(gone).toBeDefined();
    expect(started).toBeDefined();
    expect(gone!).toBeLessThan(started!);
    await s.booted(vm, 2);
    const word = `ha-${randomUUID().slice(0, 8)}`;
    expect(await s.typeOnConsole(vm, word)).toBe(`GUEST-ECHO ${word}`);

    // The fenced host comes back (network and storage): its agent reaches the manager, which
    // destroys its stale copy (undefined, the shared disk kept: the survivor's VM uses it) before
    // anything else, and never starts it there.
    await execa("chattr", ["-i", file, `${file}.tmp`]);
    await s.lan.mend(victim.net);
    const t1 = Date.now();
    await c.timeUntil(`${victim.hostname} Up again`, t1, async () => (await c.hostState(victim)) === "Up", 60_000);
    const staleGoneMs = await c.timeUntil(`the stale copy undefined on ${victim.hostname}`, t1, async () =>
      !(await execa("virsh", ["-c", victim.daemon.uri, "list", "--all", "--uuid"])).stdout.includes(vm.uuid), 60_000);
    figures.push(`stale copy undefined ${staleGoneMs} ms after the host's network came back`);
    expect(await c.runningOn(survivor)).toBe(true);
    expect(await victim.running()).toEqual([]);

    // A crash of the HA VM on a live host (its QEMU killed): restarted there, on its host.
    const t2 = Date.now();
    await execa("pkill", ["-9", "-f", "--", `-uuid ${vm.uuid}`]);
    await c.timeUntil("the crashed VM seen stopped", t2, async () => !(await survivor.running()).includes(vm.uuid), 30_000);
    const restartedMs = await c.timeUntil(`the crashed VM Running again on ${survivor.hostname}`, t2, () => c.runningOn(survivor), 30_000);
    figures.push(`crashed HA VM running again on its host ${restartedMs} ms after its QEMU was killed`);
    await s.booted(vm, 3);
    expect(await victim.running()).toEqual([]);
    figures.push(await expectNeverTwice(c, t0));
  }, 300_000);
});
