// A real `orbit-agent` process (agent/src/main.ts through orbit-agent-test-guest.ts, compiled) driving a
// sandboxed libvirtd, run inside a host's network namespace with `ip netns exec` (which execs: the
// child's pid is the agent's, so SIGKILL is a dead agent, not a dead wrapper). Its agent.yaml is
// what an operator would write; `extra` adds the keys a test needs (migration, storage heartbeat).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { type ChildHandle, spawnProgram } from "../support/processes.js";
import type { DirBind } from "./sandboxed-libvirtd.js";
import type { TestGuest } from "./test-guest.js";

export interface LibvirtAgentProcessOptions {
  /** The network namespace the agent runs in (its host's). */
  netns: string;
  managerAddress: string;
  joinToken: string;
  hostname: string;
  /** libvirt URI of the host's daemon. */
  libvirtUri: string;
  /** Identity and agent.yaml go here. */
  stateDir: string;
  /** Shared storage: the same images and instances dirs on every host (instances local to each with `binds`). */
  imagesDir: string;
  instancesDir: string;
  tags?: string[];
  /** host.migration_uri and host.cluster_address: where peers migrate to and probe this host. */
  migrationUri?: string;
  clusterAddress?: string;
  guest: TestGuest;
  /** Extra top-level keys of agent.yaml. */
  extra?: Record<string, unknown>;
  /** Directories bound over others in the agent's own mount namespace (as in its libvirtd's: sandboxed-libvirtd.ts). */
  binds?: readonly DirBind[];
}

export class LibvirtAgentProcess {
  handle: ChildHandle;
  readonly configFile: string;

  constructor(private readonly o: LibvirtAgentProcessOptions) {
    mkdirSync(o.stateDir, { recursive: true });
    this.configFile = path.join(o.stateDir, "agent.yaml");
    writeFileSync(this.configFile, toYaml({
      manager: o.managerAddress,
      token: o.joinToken,
      state_dir: o.stateDir,
      driver: "libvirt",
      libvirt: {
        uri: o.libvirtUri, domain_type: "qemu", cpu_mode: "custom", cpu_model: "qemu64", machine: "q35", cdrom_bus: "scsi",
        images_dir: o.imagesDir, instances_dir: o.instancesDir,
      },
      gpu: { enabled: false },
      host: { hostname: o.hostname, tags: o.tags ?? [], migration_uri: o.migrationUri ?? "", cluster_address: o.clusterAddress ?? "" },
      // Back quickly after a manager or network outage (the tests time what follows).
      reconnect: { initial_backoff_ms: 100, max_backoff_ms: 1000 },
      log_level: process.env.ORBIT_TEST_LOG ?? "info",
      ...o.extra,
    }));
    this.handle = this.spawn();
  }

  private spawn(): ChildHandle {
    return spawnProgram("test/libvirt/orbit-agent-test-guest.ts", ["--config", this.configFile], {
      name: `orbit-agent ${this.o.hostname}`, netns: this.o.netns, binds: this.o.binds ?? [],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME,
        ORBIT_TEST_GUEST_KERNEL: this.o.guest.kernel, ORBIT_TEST_GUEST_INITRD: this.o.guest.initrd,
      },
    });
  }

  /** Starts the agent again on the same state dir (a host whose agent was restarted). */
  restart(): void {
    if (!this.handle.exit()) throw new Error("agent process still running");
    this.handle = this.spawn();
  }

  /** SIGKILL: the agent dies with no word to anyone. */
  async kill(): Promise<void> {
    this.handle.kill("SIGKILL");
    await this.handle.exited;
  }

  async stop(): Promise<void> {
    await this.handle.stop("SIGTERM", 5000);
  }
}
