// A VM as the API dialects present it: the row with what it is made of resolved. Plain data, no
// wire format: the presenters (api/hyperstack/, later api/cloudstack/) choose names and shapes.
import type { GpuAssignment, ScorerScore } from "../allocator/types.js";
import type { Environment, Flavor, Image } from "../catalog/catalog-service.js";
import type { FlavorLabel } from "../catalog/flavor-labels.js";
import type { RunStrategy } from "./vm-lifecycle-options.js";
import type { StoredSecurityRule } from "../security-rules/security-rule-service.js";
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
  /** KubeVirt's run strategy chosen at create (null: none); stored, enforced with HA (issue 15). */
  runStrategy: RunStrategy | null;
  /** Asked for HA restarts at create; stored, enforced with HA (issue 15). */
  haEnabled: boolean;
  createdAt: Date;
  environment: Environment;
  flavor: Flavor;
  flavorLabels: FlavorLabel[];
  image: Image;
  /** The ISO image in the VM's cdrom (POST .../attach-iso), null when empty. */
  iso: { id: number; name: string } | null;
  /**
   * The fleet's side of the VM, resolved for admins only: users see their VM, not the fleet, so
   * for them both are null (as they are for admins before the VM is placed).
   */
  host: { id: number; name: string } | null;
  placement: StoredPlacement | null;
  /** Its address on the environment network (null: none, e.g. created before networks existed). */
  fixedIp: string | null;
  /** Its public address, null when none is attached. */
  floatingIp: string | null;
  /** Oldest first. */
  securityRules: StoredSecurityRule[];
  /** Volumes attached (or being attached or detached), oldest first. */
  volumeAttachments: VmVolumeAttachment[];
}
