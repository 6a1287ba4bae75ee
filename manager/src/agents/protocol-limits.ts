// Bounds on what an agent may send, checked at the gateway before anything touches the database.
// Without them one Register with 100,000 GPUs held a transaction for most of a minute and then
// failed on PostgreSQL's 65,535-parameter limit. The limits are far above any real host (a
// server has at most a few dozen GPUs, NUMA cells and vGPU types per GPU) and each refusal names
// the field and the limit: INVALID_ARGUMENT at the edge (gRPC's own RESOURCE_EXHAUSTED answers a
// message over MAX_AGENT_MESSAGE_BYTES before it is even decoded).
import { InvalidArgumentError } from "#shared/errors.js";
import type {
  AgentMessage, CommandResult, ConsoleClosed, DomainEvent, DomainStatus, Heartbeat, HostFacts, RegisterRequest, VmStats, VmStatsReport,
} from "#shared/protocol.js";

export const PROTOCOL_LIMITS = {
  /** grpc.max_receive_message_length of the agent gateway. */
  maxMessageBytes: 4 * 1024 * 1024,
  gpus: 64,
  numaCells: 64,
  cpusPerNumaCell: 16_384,
  hostTags: 64,
  discoveryWarnings: 32,
  migDevicesPerGpu: 64,
  nvlinkPeersPerGpu: 64,
  vgpuTypesPerGpu: 128,
  capabilities: 32,
  /** Disks and network interfaces in one VM's stats. */
  statsDevices: 256,
  domainsPerHeartbeat: 2048,
  /** VMs in one VmStatsReport (an agent with more sends several). */
  samplesPerStatsReport: 2048,
  /** Console output in one answer (the agent caps what it sends at 1 MiB). */
  consoleLogBytes: 1024 * 1024,
  /** One ConsoleOutput's bytes (the agent sends at most 64 KiB per message). */
  consoleChunkBytes: 64 * 1024,
  /** Any string field without a tighter limit below. */
  stringChars: 256,
  longStringChars: 4096,
  tokenChars: 512,
  csrPemChars: 16 * 1024,
} as const;

export const MAX_AGENT_MESSAGE_BYTES = PROTOCOL_LIMITS.maxMessageBytes;

function maxItems(field: string, items: readonly unknown[], limit: number): void {
  if (items.length > limit) {
    throw new InvalidArgumentError(field, `${field} has ${items.length} entries; at most ${limit} are accepted`, { limit });
  }
}

function maxChars(field: string, value: string, limit: number = PROTOCOL_LIMITS.stringChars): void {
  if (value.length > limit) {
    throw new InvalidArgumentError(field, `${field} is ${value.length} characters long; at most ${limit} are accepted`, { limit });
  }
}

/** Sizes only (what a host is, is checked by validateHostFacts). */
export function checkHostFactsBounds(f: HostFacts | undefined): void {
  if (!f) return;
  const L = PROTOCOL_LIMITS;
  for (const [name, v] of [
    ["host_uuid", f.hostUuid], ["hostname", f.hostname], ["hypervisor", f.hypervisor], ["cpu_model", f.cpuModel],
    ["cpu_arch", f.cpuArch], ["agent_version", f.agentVersion], ["hypervisor_version", f.hypervisorVersion],
    ["environment", f.environment], ["cluster", f.cluster], ["driver", f.driver],
    ["migration_uri", f.migrationUri], ["cluster_address", f.clusterAddress],
  ] as const) maxChars(`facts.${name}`, v);
  maxItems("facts.numa_cells", f.numaCells, L.numaCells);
  for (const c of f.numaCells) maxItems("facts.numa_cells.cpus", c.cpus, L.cpusPerNumaCell);
  maxItems("facts.host_tags", f.hostTags, L.hostTags);
  for (const t of f.hostTags) maxChars("facts.host_tags", t);
  maxItems("facts.discovery_warnings", f.discoveryWarnings, L.discoveryWarnings);
  for (const w of f.discoveryWarnings) maxChars("facts.discovery_warnings", w, L.longStringChars);
  maxItems("facts.capabilities", f.capabilities, L.capabilities);
  for (const c of f.capabilities) maxChars("facts.capabilities", c);
  maxItems("facts.gpus", f.gpus, L.gpus);
  for (const g of f.gpus) {
    for (const [name, v] of [
      ["pci_address", g.pciAddress], ["uuid", g.uuid], ["model", g.model], ["virtualization_mode", g.virtualizationMode],
      ["driver_version", g.driverVersion],
    ] as const) maxChars(`facts.gpus.${name}`, v);
    maxChars("facts.gpus.cpu_affinity", g.cpuAffinity, L.longStringChars);
    maxItems("facts.gpus.mig_devices", g.migDevices, L.migDevicesPerGpu);
    for (const m of g.migDevices) {
      maxChars("facts.gpus.mig_devices.profile", m.profile);
      maxChars("facts.gpus.mig_devices.uuid", m.uuid);
    }
    maxItems("facts.gpus.nvlink_peers", g.nvlinkPeers, L.nvlinkPeersPerGpu);
    for (const p of g.nvlinkPeers) maxChars("facts.gpus.nvlink_peers", p);
    maxItems("facts.gpus.vgpu_types", g.vgpuTypes, L.vgpuTypesPerGpu);
    for (const v of g.vgpuTypes) {
      maxChars("facts.gpus.vgpu_types.type_id", v.typeId);
      maxChars("facts.gpus.vgpu_types.name", v.name);
      maxChars("facts.gpus.vgpu_types.description", v.description, L.longStringChars);
    }
  }
}

export function checkRegisterBounds(r: RegisterRequest): void {
  maxChars("token", r.token, PROTOCOL_LIMITS.tokenChars);
  maxChars("csr_pem", r.csrPem, PROTOCOL_LIMITS.csrPemChars);
  checkHostFactsBounds(r.facts);
}

function checkDomainStatus(field: string, d: DomainStatus | undefined): void {
  if (!d) return;
  // Every domain of every heartbeat comes here: the field's name is only built for an error.
  const L = PROTOCOL_LIMITS;
  if (d.vmUuid.length > L.stringChars) maxChars(`${field}.vm_uuid`, d.vmUuid);
  if (d.name.length > L.stringChars) maxChars(`${field}.name`, d.name);
  if (d.reason.length > L.longStringChars) maxChars(`${field}.reason`, d.reason, L.longStringChars);
}

function checkHeartbeat(h: Heartbeat): void {
  maxItems("heartbeat.domains", h.domains, PROTOCOL_LIMITS.domainsPerHeartbeat);
  for (const d of h.domains) checkDomainStatus("heartbeat.domains", d);
}

function checkCommandResult(r: CommandResult): void {
  maxChars("command_result.command_id", r.commandId);
  if (r.error) {
    maxChars("command_result.error.code", r.error.code);
    maxChars("command_result.error.message", r.error.message, PROTOCOL_LIMITS.longStringChars);
  }
  checkDomainStatus("command_result.domain", r.domain);
  const out = r.output;
  if (out?.$case === "diskAttached") maxChars("command_result.disk_attached.target_dev", out.value.targetDev);
  if (out?.$case === "vmStats") checkVmStats("command_result.vm_stats", out.value);
  if (out?.$case === "consoleLog" && Buffer.byteLength(out.value.text) > PROTOCOL_LIMITS.consoleLogBytes) {
    throw new InvalidArgumentError("command_result.console_log.text", `command_result.console_log.text is over ${PROTOCOL_LIMITS.consoleLogBytes} bytes`, { limit: PROTOCOL_LIMITS.consoleLogBytes });
  }
}

function checkVmStats(field: string, s: VmStats): void {
  maxItems(`${field}.blocks`, s.blocks, PROTOCOL_LIMITS.statsDevices);
  for (const b of s.blocks) {
    maxChars(`${field}.blocks.name`, b.name);
    maxChars(`${field}.blocks.path`, b.path, PROTOCOL_LIMITS.longStringChars);
  }
  maxItems(`${field}.interfaces`, s.interfaces, PROTOCOL_LIMITS.statsDevices);
  for (const n of s.interfaces) maxChars(`${field}.interfaces.name`, n.name);
}

function checkVmStatsReport(r: VmStatsReport): void {
  maxItems("vm_stats_report.samples", r.samples, PROTOCOL_LIMITS.samplesPerStatsReport);
  for (const s of r.samples) {
    maxChars("vm_stats_report.samples.vm_uuid", s.vmUuid);
    if (s.stats) checkVmStats("vm_stats_report.samples.stats", s.stats);
  }
}

function checkDomainEvent(e: DomainEvent): void {
  maxChars("event.domain.vm_uuid", e.vmUuid);
  maxChars("event.domain.event", e.event);
  maxChars("event.domain.detail", e.detail, PROTOCOL_LIMITS.longStringChars);
}

function checkConsoleClosed(c: ConsoleClosed): void {
  maxChars("console_closed.session_id", c.sessionId);
  maxChars("console_closed.reason", c.reason, PROTOCOL_LIMITS.longStringChars);
  if (c.error) {
    maxChars("console_closed.error.code", c.error.code);
    maxChars("console_closed.error.message", c.error.message, PROTOCOL_LIMITS.longStringChars);
  }
}

/** A message on an agent's stream. */
export function checkAgentMessageBounds(m: AgentMessage): void {
  const b = m.body;
  if (!b) return;
  switch (b.$case) {
    case "heartbeat": return checkHeartbeat(b.value);
    case "commandResult": return checkCommandResult(b.value);
    case "event":
      if (b.value.body?.$case === "domain") checkDomainEvent(b.value.body.value);
      if (b.value.body?.$case === "migrationProgress") {
        maxChars("migration_progress.vm_uuid", b.value.body.value.vmUuid);
        maxChars("migration_progress.command_id", b.value.body.value.commandId);
      }
      return;
    case "vmStatsReport": return checkVmStatsReport(b.value);
    case "consoleOutput":
      maxChars("console_output.session_id", b.value.sessionId);
      if (b.value.data.length > PROTOCOL_LIMITS.consoleChunkBytes) {
        throw new InvalidArgumentError("console_output.data", `console_output.data is over ${PROTOCOL_LIMITS.consoleChunkBytes} bytes`, { limit: PROTOCOL_LIMITS.consoleChunkBytes });
      }
      return;
    case "consoleClosed": return checkConsoleClosed(b.value);
  }
}
