// The hypervisor's (libvirt's) name for a VM's domain. The manager chooses it (setting
// vm.instancename.flag) and sends it in VmSpec.domain_name; an agent given none (a manager that
// predates the field) uses the form with the VM's name, which every domain had before.

/**
 * `orbit-<first 8 hex of the uuid>-<name>`: the uuid prefix keeps names unique per host when users
 * reuse VM names; the uuid itself is the domain's <uuid>, which is what Orbit looks domains up by.
 */
export function domainNameWithVmName(vm: { vmUuid: string; name: string }): string {
  const clean = vm.name.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48);
  return clean ? `orbit-${uuidPrefix(vm.vmUuid)}-${clean}` : `orbit-${uuidPrefix(vm.vmUuid)}`;
}

/**
 * `orbit-<VM id>-<first 8 hex of the uuid>`: nothing the user chose, still telling an operator at
 * `virsh list` which VM it is (the id the API shows); the uuid prefix keeps it unique on a host
 * that still has domains of another installation whose ids overlap.
 */
export function internalDomainName(vm: { id: number; vmUuid: string }): string {
  return `orbit-${vm.id}-${uuidPrefix(vm.vmUuid)}`;
}

function uuidPrefix(uuid: string): string {
  return uuid.replace(/-/g, "").slice(0, 8);
}
