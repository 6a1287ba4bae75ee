// Two real libvirt hosts in one cluster of one test cloud, for migration and HA (issue 15). Each
// host is a network namespace (host-network-sandbox.ts) on one LAN with the manager
// (test-lan.ts), with a sandboxed libvirtd listening on TCP at the host's address (peer-to-peer
// migration) and a real `orbit-agent` process running in the namespace (libvirt-agent-process.ts)
// that dials the manager over that LAN. Both hosts see the same images, instances and storage
// heartbeat directories: this machine's filesystem stands in for shared storage. A host can die
// as a host does (`powerLoss`: agent, libvirtd and QEMU SIGKILLed, cable pulled) or just lose
// its network (`lan.cut`).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { connectConsole } from "../e2e/console-client.js";
import { startTestCloud, type TestCloud } from "../e2e/harness.js";
import { countOf } from "./guest-console.js";
import { type HostNetworkSandbox, startHostNetworkSandbox } from "./host-network-sandbox.js";
import { LibvirtAgentProcess } from "./libvirt-agent-process.js";
import { useBlankBaseImage } from "./libvirt-test-host.js";
import { type SandboxedLibvirtd, startSandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { startTestLan, type TestLan } from "./test-lan.js";
import { VirshSession } from "./virsh-session.js";
import { ensureTestGuest, type TestGuest } from "./test-guest.js";

/** What a host's agent.yaml may depend on. */
export interface HostConfigContext {
  hostname: string;
  /** The host's address on the LAN (the cluster network). */
  address: string;
  daemon: SandboxedLibvirtd;
  /** The shared storage heartbeat directory. */
  heartbeatDir: string;
}

export interface TwoHostStackOptions {
  /** mkdtemp prefix of the work dir (shared storage, agents' state). */
  workPrefix: string;
  /** Global settings of the test cloud. */
  settings?: Record<string, unknown>;
  /** Extra top-level agent.yaml keys of each host (migration address, storage heartbeat...). */
  agentConfig?: (h: HostConfigContext) => Record<string, unknown>;
  /**
   * "local": each host's instances dir (VMs' disks, seeds, serial logs) is its own, at the same
   * path on both (a directory of the work dir bound there in the host's mount namespaces), and the
   * cluster keeps its local storage pool. Default "shared": one instances dir, a shared pool.
   */
  storage?: "shared" | "local";
}

export interface TestHost {
  hostname: string;
  net: HostNetworkSandbox;
  address: string;
  daemon: SandboxedLibvirtd;
  agent: LibvirtAgentProcess;
  /** Where this machine keeps the host's instances dir (the shared one unless storage is "local"). */
  instancesDir: string;
  /** The manager's id of the host. */
  id: number;
  /** UUIDs of the domains running on its daemon now; after a power loss, of its QEMU processes still alive. */
  running(): Promise<string[]>;
  /** The host dies: its agent, libvirtd and QEMU SIGKILLed at once, then its cable pulled. */
  powerLoss(): Promise<void>;
}

export interface LibvirtTwoHostStack {
  guest: TestGuest;
  lan: TestLan;
  cloud: TestCloud;
  work: string;
  /** Shared storage. */
  imagesDir: string;
  instancesDir: string;
  heartbeatDir: string;
  hosts: [TestHost, TestHost];
  /** The host (of the two) whose name the manager gives. */
  host(hostname: string): TestHost;
  /** The VM's serial console log ("" before it exists); with local storage, each host's that has one, in host order. */
  serialLog(uuid: string): string;
  /** Creates a VM through the API (t1-tiny on "Debian 12" unless `body` says otherwise) and waits for ACTIVE. */
  deploy(body: Record<string, unknown>): Promise<TestVm>;
  /** The VM as the API shows it. */
  instance(id: number): Promise<Record<string, any>>;
  /** Waits for the guest's boot number `boots` (GUEST-READY lines in its serial log). */
  booted(vm: TestVm, boots?: number): Promise<void>;
  /**
   * Types `line` on the VM's console through the API (open-console's WebSocket, as a user would)
   * and returns the first console line starting with `answer` after it (the guest's GUEST-ECHO by default).
   */
  typeOnConsole(vm: TestVm, line: string, answer?: string): Promise<string>;
  /** Agents' and daemons' output, for failure messages. */
  logs(): string;
  /** What would be left on the machine if the run ended now (leftovers() of its namespaces and paths). */
  footprint(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface TestVm {
  id: number;
  uuid: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const HOSTNAMES = ["orbit-lv-a", "orbit-lv-b"] as const;

/**
 * What a run left on the machine: these network namespaces, and QEMU, libvirtd and agent
 * processes whose command line names one of `paths` (the work dir, the daemons' roots).
 */
export async function leftovers(namespaces: readonly string[], paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const ns = (await execa("ip", ["netns", "list"], { reject: false })).stdout.split("\n").map((l) => l.split(" ")[0]);
  for (const name of namespaces) if (ns.includes(name)) out.push(`netns ${name}`);
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    if (/qemu-system|libvirtd|orbit-agent/.test(cmd) && paths.some((p) => cmd.includes(p))) out.push(`process ${pid}: ${cmd.slice(0, 200)}`);
  }
  return out;
}

/**
 * The cluster's storage is what the hosts share: its local pool replaced by a shared one (as an
 * admin would, through the API), so VMs' root disks count in a shared pool and may run, migrate
 * and restart on either host.
 */
async function shareClusterStorage(cloud: TestCloud, path: string): Promise<void> {
  mkdirSync(path);
  const pools = (await cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as { id: number; name: string; cluster_id: number; cluster: string; kind: string }[];
  const local = pools.filter((p) => p.cluster === "default" && p.kind === "local");
  if (local.length === 0) throw new Error(`no local storage pool in cluster "default" to replace: ${JSON.stringify(pools)}`);
  const created = await cloud.api("POST", "/v1/admin/storage-pools", { name: "two-host-shared", cluster_id: local[0]!.cluster_id, kind: "shared", path, capacity_gib: 1000 });
  if (created.status !== 200 && created.status !== 201) throw new Error(`creating the shared pool: ${created.status} ${JSON.stringify(created.json)}`);
  for (const p of local) {
    const r = await cloud.api("DELETE", `/v1/admin/storage-pools/${p.id}`);
    if (r.status !== 200 && r.status !== 204) throw new Error(`deleting local pool ${p.name}: ${r.status} ${JSON.stringify(r.json)}`);
  }
}

/**
 * Everything a two-host tier runs on, and its teardown: stop() takes down what was started even
 * when start() failed half-way (call it from afterAll).
 */
export function libvirtTwoHostStack(): { start(o: TwoHostStackOptions): Promise<LibvirtTwoHostStack>; stop(): Promise<void> } {
  let lan: TestLan | undefined;
  let cloud: TestCloud | undefined;
  let work: string | undefined;
  const nets: HostNetworkSandbox[] = [];
  const daemons: SandboxedLibvirtd[] = [];
  const agents: LibvirtAgentProcess[] = [];
  const sessions: VirshSession[] = [];

  let stopped: Promise<void> | undefined;
  // Once, however often it is called (a test checks the teardown, afterAll calls it again).
  const stop = (): Promise<void> => stopped ??= (async () => {
    for (const a of agents) await a.stop();
    for (const v of sessions) await v.close();
    await cloud?.stop();
    for (const d of daemons) await d.stop();
    for (const n of nets) await n.stop();
    await lan?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  })();

  const start = async (o: TwoHostStackOptions): Promise<LibvirtTwoHostStack> => {
    const guest = await ensureTestGuest();
    lan = await startTestLan();
    work = mkdtempSync(join(tmpdir(), o.workPrefix));
    const [imagesDir, instancesDir, heartbeatDir] = ["images", "instances", "heartbeat"].map((d) => join(work!, d)) as [string, string, string];
    for (const d of [imagesDir, instancesDir, heartbeatDir]) mkdirSync(d);
    // The agents dial the manager's gRPC on the LAN; the test talks to its HTTP API on loopback.
    cloud = await startTestCloud({ hosts: [], env: { ORBIT_GRPC_HOST: lan.managerAddress }, ...(o.settings ? { settings: o.settings } : {}) });
    await useBlankBaseImage(cloud, imagesDir);

    const started: Omit<TestHost, "id">[] = [];
    const local = o.storage === "local";
    for (const hostname of HOSTNAMES) {
      const net = await startHostNetworkSandbox();
      nets.push(net);
      const address = await lan.plug(net);
      const hostInstances = local ? join(work, `local-${hostname}`) : instancesDir;
      if (local) mkdirSync(hostInstances);
      const binds = local ? [{ source: hostInstances, target: instancesDir }] : [];
      const daemon = await startSandboxedLibvirtd({ netns: net.name, tcpListenAddress: address, binds });
      daemons.push(daemon);
      // The first connection probes QEMU's capabilities (seconds): before the agent needs it.
      await execa("virsh", ["-c", daemon.uri, "version"]);
      const agent = new LibvirtAgentProcess({
        netns: net.name, managerAddress: cloud.manager.grpcAddress, joinToken: cloud.manager.agentToken, hostname,
        libvirtUri: daemon.uri, migrationUri: daemon.tcpUri!, clusterAddress: address, stateDir: join(work, `agent-${hostname}`), imagesDir, instancesDir, guest,
        extra: o.agentConfig?.({ hostname, address, daemon, heartbeatDir }) ?? {}, binds,
      });
      agents.push(agent);
      let lost = false;
      const virsh = new VirshSession(daemon.uri);
      sessions.push(virsh);
      started.push({
        hostname, net, address, daemon, agent, instancesDir: hostInstances,
        running: async () => {
          // A host without power: whatever QEMU of its still lives (none, if the power loss worked).
          if (lost) return daemon.liveQemu();
          // One virsh kept open per host: the HA poller lists both every 200 ms on a loaded 2-core machine.
          const out = await virsh.run("list --uuid --state-running").catch((e: unknown) => {
            throw new Error(`virsh list on ${hostname}: ${(e as Error).message}`);
          });
          // Interactive virsh also echoes the command and its prompt: the UUIDs are the lines that are one.
          return out.split("\n").map((l) => l.trim()).filter((l) => UUID.test(l));
        },
        powerLoss: async () => {
          lost = true;
          await Promise.all([agent.kill(), daemon.powerOff()]);
          await lan!.cut(net);
        },
      });
    }
    const c = cloud;
    const ids = await c.waitFor("both libvirt hosts Up", async () => {
      const hosts = (await c.api("GET", "/v1/admin/hosts")).json.hosts as { id: number; name: string; state: string }[];
      const up = HOSTNAMES.map((n) => hosts.find((h) => h.name === n && h.state === "Up")?.id);
      for (const a of agents) {
        const gone = a.handle.exit();
        if (gone) throw new Error(`${a.handle.name} exited (${JSON.stringify(gone)}):\n${a.handle.output()}`);
      }
      return up.every((id) => id !== undefined) ? up as number[] : undefined;
    }, 60_000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${agents.map((a) => `--- ${a.handle.name}\n${a.handle.output().slice(-3000)}`).join("\n")}`);
    });
    const hosts = started.map((h, i) => ({ ...h, id: ids[i]! })) as [TestHost, TestHost];
    // The cluster (and its local pool) came with the first host.
    if (!local) await shareClusterStorage(c, join(work, "volumes"));
    const w = work;
    const logs = (): string => [
      ...agents.map((a) => `--- ${a.handle.name}\n${a.handle.output().slice(-4000)}`),
      ...daemons.map((d, i) => `--- libvirtd ${HOSTNAMES[i]}\n${d.logs()}`),
    ].join("\n");
    const serialLog = (uuid: string): string => [...new Set(hosts.map((h) => h.instancesDir))].map((d) => {
      const p = join(d, uuid, "serial.log");
      return existsSync(p) ? readFileSync(p, "utf8") : "";
    }).join("");
    const instance = async (id: number): Promise<Record<string, any>> => (await c.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
    return {
      guest, lan, cloud, work: w, imagesDir, instancesDir, heartbeatDir, hosts,
      host: (hostname) => {
        const h = hosts.find((x) => x.hostname === hostname);
        if (!h) throw new Error(`no test host named ${hostname}`);
        return h;
      },
      serialLog, logs, instance,
      deploy: async (body) => {
        const created = await c.api("POST", "/v1/core/virtual-machines", { flavor_name: "t1-tiny", image_name: "Debian 12", ...body });
        if (created.status !== 200) throw new Error(`create: ${created.status} ${JSON.stringify(created.json)}`);
        const vm = { id: created.json.instances[0].id as number, uuid: created.json.instances[0].uuid as string };
        await c.waitFor(`VM ${vm.id} ACTIVE`, async () => {
          const i = await instance(vm.id);
          if (i?.status === "ERROR") throw new Error(`deploy failed: ${i.state_reason}\n${logs()}`);
          return i?.status === "ACTIVE";
          // A TCG start on a loaded 2-core machine (other tests beside) was seen past 90 s.
        }, 180_000).catch(async (e: unknown) => {
          const i = await instance(vm.id).catch(() => undefined);
          throw new Error(`${String(e)}: ${JSON.stringify({ status: i?.status, host: i?.host, reason: i?.state_reason })}\n${logs()}`);
        });
        return vm;
      },
      booted: async (vm, boots = 1) => {
        await c.waitFor(`boot ${boots} of VM ${vm.id}`, async () => countOf(serialLog(vm.uuid), "GUEST-READY") >= boots, 60_000)
          .catch((e: unknown) => { throw new Error(`${String(e)}\n--- serial log (tail)\n${serialLog(vm.uuid).slice(-2000)}\n${logs()}`); });
      },
      typeOnConsole: async (vm, line, answer = `GUEST-ECHO ${line}`) => {
        const opened = await c.api("POST", `/v1/core/virtual-machines/${vm.id}/open-console`);
        if (opened.status !== 200) throw new Error(`open-console: ${opened.status} ${JSON.stringify(opened.json)}`);
        const con = await connectConsole(opened.json.console.url as string);
        try {
          // Typed as a terminal would: the guest's tty turns the CR into a line end.
          con.ws.send(`${line}\r`);
          return await c.waitFor(`"${answer}" on VM ${vm.id}'s console`, async () => {
            const text = con.text();
            const from = text.indexOf(`GUEST-ECHO ${line}`);
            if (from < 0) return undefined;
            // Only whole lines: the last piece may still be arriving (a prefix of the answer).
            const lines = text.slice(from).split(/\r?\n/);
            lines.pop();
            return lines.map((l) => l.trim()).find((l) => l.startsWith(answer));
          }, 20_000).catch((e: unknown) => { throw new Error(`${String(e)}\n--- received\n${con.text().slice(-1500)}`); });
        } finally {
          con.ws.close();
          await c.api("POST", `/v1/core/virtual-machines/${vm.id}/close-console`);
        }
      },
      footprint: () => leftovers([lan!.name, ...nets.map((n) => n.name)], [w, ...daemons.map((d) => d.root)]),
      stop,
    };
  };
  return { start, stop };
}
