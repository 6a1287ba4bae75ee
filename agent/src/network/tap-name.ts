// The host-side name of a VM's first NIC (its tap). Chosen by the agent, not by libvirt (which
// would number it vnetN at start), so the firewall can be in place before the VM first runs.
import { InvalidArgumentError } from "#shared/errors.js";

/** "ov" + the uuid's first 13 hex digits: 15 characters, the most Linux allows. */
export function vmTapName(vmUuid: string): string {
  const hex = vmUuid.toLowerCase().replace(/-/g, "");
  if (!/^[0-9a-f]{13,}$/.test(hex)) throw new InvalidArgumentError("vm_uuid", `not a VM uuid: ${JSON.stringify(vmUuid)}`);
  return `ov${hex.slice(0, 13)}`;
}
