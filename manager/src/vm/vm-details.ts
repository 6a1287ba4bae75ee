// A VM as the API dialects present it: the row with what it is made of resolved. Plain data, no
// wire format: the presenters (api/hyperstack/, later api/cloudstack/) choose names and shapes.
import type { GpuAssignment, ScorerScore } from "../allocator/types.js";
import type { Environment, Flavor, Image } from "../catalog/catalog-service.js";
import type { VmVolumeAttachment } from "../storage/volume-service.js";
import type { VmState } from "./vm-state-machine.js";

/** How the scheduler chose a VM's host, as VmService.create stores it in vms.placement. */
export interface StoredPlacement { policy: string; seed: number; host: string; scores: ScorerScore[]; total: number; gpus: GpuAssignment[] }

export interface VmDetails {
  id: number;
  uuid: string;
  name: string;
  state: VmState;
  stateReason: string;
  labels: string[];
  /** "" when none. */
  callbackUrl: string;
  /** The key pair named at create, null without one. */
  keyName: string | null;
  createdAt: Date;
  environment: Environment;
  flavor: Flavor;
  image: Image;
  /**
   * The fleet's side of the VM, resolved for admins only: users see their VM, not the fleet, so
   * for them both are null (as they are for admins before the VM is placed).
   */
  host: { id: number; name: string } | null;
  placement: StoredPlacement | null;
  /** Volumes attached (or being attached or detached), oldest first. */
  volumeAttachments: VmVolumeAttachment[];
}
