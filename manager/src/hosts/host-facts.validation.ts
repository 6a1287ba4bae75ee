// Checks what an agent says about its host before anything is written.
import { InvalidArgumentError } from "#shared/errors.js";
import type { HostFacts } from "#shared/protocol.js";
import { checkHostFactsBounds } from "../agents/protocol-limits.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function validateHostFacts(f: HostFacts | undefined): HostFacts {
  if (!f) throw new InvalidArgumentError("facts", "facts are required");
  // Sizes first: nothing below (or in the database) should walk an unbounded list.
  checkHostFactsBounds(f);
  if (!UUID_RE.test(f.hostUuid)) throw new InvalidArgumentError("facts.host_uuid", "host_uuid must be a UUID");
  if (!f.hostname || f.hostname.length > 253) throw new InvalidArgumentError("facts.hostname", "hostname is required (at most 253 characters)");
  if (!["kvm", "qemu", "simulator"].includes(f.hypervisor)) {
    throw new InvalidArgumentError("facts.hypervisor", `hypervisor must be kvm, qemu or simulator, got "${f.hypervisor}"`);
  }
  if (!["libvirt", "simulator"].includes(f.driver)) throw new InvalidArgumentError("facts.driver", `driver must be libvirt or simulator, got "${f.driver}"`);
  if (f.cpus < 1 || f.cpus > 16384) throw new InvalidArgumentError("facts.cpus", "cpus must be between 1 and 16384");
  if (f.memoryMib < 64) throw new InvalidArgumentError("facts.memory_mib", "memory_mib must be at least 64");
  if (f.sockets < 1 || f.coresPerSocket < 1 || f.threadsPerCore < 1) {
    throw new InvalidArgumentError("facts.sockets", "sockets, cores_per_socket and threads_per_core must be at least 1");
  }
  for (const [field, v] of [["facts.environment", f.environment], ["facts.cluster", f.cluster]] as const) {
    if (!NAME_RE.test(v)) throw new InvalidArgumentError(field, `${field.slice(6)} must match ${NAME_RE.source}`);
  }
  for (const t of f.hostTags) if (!NAME_RE.test(t)) throw new InvalidArgumentError("facts.host_tags", `bad host tag "${t}"`);
  const seen = new Set<string>();
  for (const g of f.gpus) {
    if (!g.pciAddress) throw new InvalidArgumentError("facts.gpus.pci_address", "every GPU needs a PCI address");
    if (seen.has(g.pciAddress)) throw new InvalidArgumentError("facts.gpus.pci_address", `GPU ${g.pciAddress} listed twice`);
    seen.add(g.pciAddress);
  }
  return f;
}
