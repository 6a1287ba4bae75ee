// The agent's configuration file (agent.yaml) as a zod schema: snake_case keys in YAML,
// camelCase in the parsed result. Unknown keys are refused everywhere so typos are caught at start.
import path from "node:path";
import { z } from "zod";
import { parseListenAddress } from "#shared/metrics-http-server.js";

export const DEFAULT_STATE_DIR = "/var/lib/orbit-agent";

/** "host:port", "[ipv6]:port"; host is a DNS name or an IPv4 address. */
const MANAGER_ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

export function isManagerAddress(s: string): boolean {
  const m = MANAGER_ADDRESS.exec(s);
  const port = m ? Number(m[1]) : 0;
  return port >= 1 && port <= 65535;
}

const managerAddress = z.string().refine(isManagerAddress, { message: 'expected "host:port" with a port in 1..65535' });

/** "host:port" or several, comma-separated ("a:9090,b:9090"): the form ORBIT_MANAGER and --manager take too. */
const managerAddressList = z
  .string()
  .superRefine((s, ctx) => {
    const parts = s.split(",").map((p) => p.trim());
    const bad = parts.find((p) => !isManagerAddress(p));
    if (bad !== undefined) {
      const which = parts.length > 1 ? ` (${JSON.stringify(bad)} is not)` : "";
      ctx.addIssue({ code: "custom", message: `expected "host:port" with a port in 1..65535, or several comma-separated${which}` });
    }
  })
  .transform((s) => s.split(",").map((p) => p.trim()));

const absolutePath = z.string().refine((s) => path.isAbsolute(s), { message: "expected an absolute path" });
const nonEmpty = z.string().min(1);

const tlsSchema = z
  .strictObject({
    ca_file: absolutePath.optional(),
    cert_file: absolutePath.optional(),
    key_file: absolutePath.optional(),
    server_name: nonEmpty.optional(),
  })
  .transform((t) => ({ caFile: t.ca_file, certFile: t.cert_file, keyFile: t.key_file, serverName: t.server_name }));

const libvirtSchema = z
  .strictObject({
    uri: nonEmpty.default("qemu:///system"),
    domain_type: z.enum(["kvm", "qemu"]).default("kvm"),
    // Default depends on domain_type (filled at the top level): the host's CPU needs KVM.
    cpu_mode: z.enum(["host-passthrough", "host-model", "custom"]).optional(),
    cpu_model: nonEmpty.default("qemu64"),
    machine: nonEmpty.default("q35"),
    cdrom_bus: z.enum(["scsi", "sata", "ide"]).default("scsi"),
    // Left undefined here: the top level fills them under state_dir.
    images_dir: absolutePath.optional(),
    instances_dir: absolutePath.optional(),
    ovmf_code: absolutePath.default("/usr/share/OVMF/OVMF_CODE_4M.fd"),
    ovmf_vars: absolutePath.default("/usr/share/OVMF/OVMF_VARS_4M.fd"),
    secure_boot: z.boolean().default(false),
  })
  .superRefine((l, ctx) => {
    if (l.cpu_mode === "host-passthrough" && l.domain_type === "qemu") {
      ctx.addIssue({
        code: "custom",
        path: ["cpu_mode"],
        message: 'expected "host-model" | "custom" with domain_type "qemu" (host-passthrough needs KVM)',
      });
    }
  });

const simulatorGpuSchema = z
  .strictObject({
    model: nonEmpty,
    memory_mib: z.int().min(1),
    count: z.int().min(1).default(1),
    numa_node: z.int().min(0).optional(),
  })
  .transform((g) => ({ model: g.model, memoryMib: g.memory_mib, count: g.count, numaNode: g.numa_node }));

const simulatorSchema = z
  .strictObject({
    cpus: z.int().min(1).default(16),
    memory_mib: z.int().min(1).default(65536),
    numa_cells: z.int().min(1).default(1),
    gpus: z.array(simulatorGpuSchema).default([]),
    start_delay_ms: z.int().min(0).default(200),
  })
  .superRefine((s, ctx) => {
    s.gpus.forEach((g, i) => {
      if (g.numaNode !== undefined && g.numaNode >= s.numa_cells) {
        ctx.addIssue({
          code: "custom",
          path: ["gpus", i, "numa_node"],
          message: `expected a NUMA node below numa_cells (${s.numa_cells})`,
        });
      }
    });
  })
  .transform((s) => ({
    cpus: s.cpus,
    memoryMib: s.memory_mib,
    numaCells: s.numa_cells,
    gpus: s.gpus,
    startDelayMs: s.start_delay_ms,
  }));

const gpuSchema = z
  .strictObject({
    nvidia_smi: nonEmpty.default("nvidia-smi"),
    sysfs_root: absolutePath.default("/sys"),
    enabled: z.boolean().default(true),
  })
  .transform((g) => ({ nvidiaSmi: g.nvidia_smi, sysfsRoot: g.sysfs_root, enabled: g.enabled }));

/** Tags are matched by the scheduler's host-tag filter; whitespace would make them ambiguous in YAML/CLI. */
const hostTag = z.string().regex(/^\S+$/, { message: "expected a non-empty tag without spaces" });

const hostSchema = z
  .strictObject({
    tags: z.array(hostTag).default([]),
    environment: nonEmpty.default("default"),
    cluster: nonEmpty.default("default"),
    hostname: nonEmpty.optional(),
    // The hypervisor URI peers reach this host under for a live migration (libvirt:
    // qemu+tcp://ADDR/system); "": the host cannot be a migration destination.
    migration_uri: z.string().default(""),
    // The host's address on the cluster network (the migration stream goes to tcp://ADDR,
    // neighbours probe it); "": none.
    cluster_address: z.string().regex(/^\S*$/, { message: "expected an address without spaces" }).default(""),
  })
  .transform((h) => ({
    tags: h.tags, environment: h.environment, cluster: h.cluster, hostname: h.hostname,
    migrationUri: h.migration_uri, clusterAddress: h.cluster_address,
  }));

const reconnectSchema = z
  .strictObject({
    initial_backoff_ms: z.int().min(10).default(500),
    // Kept below the manager's host deadline (interval x miss factor) by default; the manager
    // lowers it further when its deadline is shorter.
    max_backoff_ms: z.int().min(100).default(15_000),
    // How often an agent that cannot reach the manager says so again (the first failure always is).
    log_every_ms: z.int().min(100).default(60_000),
  })
  .superRefine((r, ctx) => {
    if (r.initial_backoff_ms > r.max_backoff_ms) {
      ctx.addIssue({ code: "custom", path: ["initial_backoff_ms"], message: `expected at most max_backoff_ms (${r.max_backoff_ms})` });
    }
  })
  .transform((r) => ({ initialBackoffMs: r.initial_backoff_ms, maxBackoffMs: r.max_backoff_ms, logEveryMs: r.log_every_ms }));

const statsSchema = z
  .strictObject({
    // How often the running VMs' counters go to the manager (its metrics); 0 turns it off.
    interval_ms: z.int().refine((v) => v === 0 || v >= 1000, { message: "expected 0 (off) or at least 1000" }).default(60_000),
  })
  .transform((s) => ({ intervalMs: s.interval_ms }));

const haSchema = z
  .strictObject({
    // A shared directory (NFS or a cluster filesystem) every host of the cluster mounts, at any
    // path: this host writes its storage heartbeat into it, and reads its neighbours' from it when
    // the manager asks it to probe one. Absent: no storage heartbeat, and this host never fences
    // itself.
    storage_heartbeat_dir: absolutePath.optional(),
  })
  .transform((h) => ({ storageHeartbeatDir: h.storage_heartbeat_dir }));
const metricsSchema = z
  .strictObject({
    // GET /metrics, /healthz and /readyz on this address ("host:port"); unset: no listener.
    listen: z.string().refine((s) => parseListenAddress(s) !== undefined, { message: 'expected "host:port" (port 0..65535), e.g. "127.0.0.1:9464"' }).optional(),
  })
  .transform((m) => ({ listen: m.listen === undefined ? undefined : parseListenAddress(m.listen)! }));

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Keys agent.yaml once had that nothing reads any more: refused, saying what decides instead,
 * rather than accepted and ignored.
 */
export const REMOVED_AGENT_CONFIG_KEYS: Record<string, string> = {
  heartbeat_interval_ms: "the manager sets the heartbeat interval when the agent registers (its setting ping.interval)",
  memory_reserve_mib: "the memory kept for each host is the manager's setting host.memory.reserve.mib",
};

export const agentConfigSchema = z
  .strictObject({
    // One manager, or several (a comma list here, or the managers list): the agent holds one
    // stream and moves to the next when its manager goes away (connection/manager-list.ts).
    manager: managerAddressList.optional(),
    managers: z.array(managerAddress).min(1).optional(),
    token: nonEmpty.optional(),
    state_dir: absolutePath.default(DEFAULT_STATE_DIR),
    tls: tlsSchema.prefault({}),
    driver: z.enum(["libvirt", "simulator"]).default("libvirt"),
    libvirt: libvirtSchema.prefault({}),
    simulator: simulatorSchema.prefault({}),
    gpu: gpuSchema.prefault({}),
    host: hostSchema.prefault({}),
    reconnect: reconnectSchema.prefault({}),
    stats: statsSchema.prefault({}),
    ha: haSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    log_level: z.enum(LOG_LEVELS).default("info"),
    ...Object.fromEntries(Object.keys(REMOVED_AGENT_CONFIG_KEYS).map((k) => [k, z.unknown().optional()])),
  })
  .superRefine((c, ctx) => {
    if (c.manager === undefined && c.managers === undefined) {
      ctx.addIssue({ code: "custom", path: ["manager"], message: 'required (one "host:port", a comma list, or a managers: list)' });
    }
    for (const [key, why] of Object.entries(REMOVED_AGENT_CONFIG_KEYS)) {
      if ((c as Record<string, unknown>)[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: `no longer read (${why}): remove it` });
    }
  })
  .transform((c) => {
    // manager's entries first, then managers', each once: the first is dialled first.
    const managers = [...new Set([...(c.manager ?? []), ...(c.managers ?? [])])];
    return {
      /** The first manager (logs, tools that take one). */
      manager: managers[0]!,
      managers,
      token: c.token,
      stateDir: c.state_dir,
      tls: c.tls,
      driver: c.driver,
      libvirt: {
        uri: c.libvirt.uri,
        domainType: c.libvirt.domain_type,
        cpuMode: c.libvirt.cpu_mode ?? (c.libvirt.domain_type === "kvm" ? "host-passthrough" : "custom"),
        cpuModel: c.libvirt.cpu_model,
        machine: c.libvirt.machine,
        cdromBus: c.libvirt.cdrom_bus,
        // Follow state_dir unless set, so moving state_dir moves everything the agent owns.
        imagesDir: c.libvirt.images_dir ?? path.join(c.state_dir, "images"),
        instancesDir: c.libvirt.instances_dir ?? path.join(c.state_dir, "instances"),
        ovmfCode: c.libvirt.ovmf_code,
        ovmfVars: c.libvirt.ovmf_vars,
        secureBoot: c.libvirt.secure_boot,
      },
      simulator: c.simulator,
      gpu: c.gpu,
      host: c.host,
      reconnect: c.reconnect,
      stats: c.stats,
      ha: c.ha,
      metrics: c.metrics,
      logLevel: c.log_level,
    };
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigFile = z.input<typeof agentConfigSchema>;
