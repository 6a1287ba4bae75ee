// Clone: a new VM like a stopped one (flavor, image, keys, labels, user data, callback URL,
// environment, security rules) whose root disk is a full copy of the source's. The copy is made on the source's
// host, where its disk is, so the clone is placed there (a placement restricted to that host:
// its filters, capacity and the account's limits as for a create); the job copies and starts it.
// It gets its own address on the environment network, reserved before the commit as a create's.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, flavors, images, regions, securityRules, vms } from "../db/schema.js";
import { securityRuleRows, securityRulesOf } from "../security-rules/security-rule-service.js";
import { rootDiskGib } from "../storage/root-disks.js";
import { parseCidr, vmAddressRange } from "../network/cidr.js";
import { releaseUnplaced, reserveAddresses } from "../network/ipam.js";
import type { NetworkService } from "../network/network-service.js";
import type { PlacementService } from "../placement/placement-service.js";
import type { StoredPlacement, VmDetails } from "./vm-details.js";
import { VmService, type Caller, type JobEnqueuer } from "./vm-service.js";
import { isVmState, requireStopped } from "./vm-state-machine.js";

export interface CloneVmInput {
  name: string;
  /** Start the clone once its disk is copied (default); false leaves it Stopped. */
  start?: boolean | undefined;
}

const NOT_STOPPED = "only a stopped VM's disk can be copied consistently (a running VM's needs snapshots, which Orbit does not have yet): stop it first";

export class VmClones {
  constructor(
    private readonly db: Db,
    private readonly placement: Pick<PlacementService, "placeAndCommit">,
    private readonly jobsQueue: JobEnqueuer,
    private readonly vmService: Pick<VmService, "get">,
    private readonly networks: Pick<NetworkService, "forEnvironment">,
  ) {}

  async clone(caller: Caller, id: number, input: CloneVmInput): Promise<{ vm: VmDetails; jobId: number }> {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [src] = await this.db.select().from(vms).where(and(eq(vms.id, id), scope));
    if (!src || src.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    if (src.bootVolumeId != null) {
      throw new ConflictError(`virtual machine ${id} boots from volume ${src.bootVolumeId}: a clone copies an image-backed root disk, which it has not`, "boot_volume");
    }
    const what = `virtual machine ${id}`;
    requireStopped(isVmState(src.state) ? src.state : "Unknown", what, "be cloned", NOT_STOPPED);
    if (src.hostId == null) throw new NotFoundError("host of virtual machine", id);
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.id, src.flavorId));
    const [image] = await this.db.select().from(images).where(eq(images.id, src.imageId));
    const [env] = await this.db.select({ id: environments.id, name: environments.name, regionId: environments.regionId, region: regions.name }).from(environments)
      .innerJoin(regions, eq(regions.id, environments.regionId)).where(eq(environments.id, src.environmentId));
    const uuid = randomUUID();
    const request = {
      ...VmService.placementRequest(flavor!, image!, env!.region, src.accountId, 1),
      vmIds: [uuid], hostId: String(src.hostId), strictHostTags: true,
    };
    const network = await this.networks.forEnvironment(env!);
    await reserveAddresses(this.db, {
      networkId: network.id, kind: "fixed", range: vmAddressRange(parseCidr(network.cidr, "cidr")), vmUuids: [uuid],
      what: `environment "${env!.name}" network ${network.cidr}`,
    });
    // Placement refuses (409, with the allocator's reasons) when the host cannot take the clone.
    const { vms: created } = await this.placement.placeAndCommit(request, {
      vm: (p, plan) => ({
        uuid, name: input.name, accountId: src.accountId, userId: caller.userId ?? null, environmentId: src.environmentId, flavorId: src.flavorId, imageId: src.imageId,
        labels: src.labels, userData: src.userData, callbackUrl: src.callbackUrl, keyName: src.keyName, sshAuthorizedKeys: src.sshAuthorizedKeys,
        // A full copy of the source's disk: reserved again, at the source's size, in the pool of the host it is copied on.
        rootDiskGib: src.rootDiskGib ?? rootDiskGib(flavor!, image!),
        placement: { policy: plan.policy, seed: plan.seed, host: p.hostName, scores: p.scores, total: p.total, gpus: p.gpus } satisfies StoredPlacement,
      }),
      jobKind: input.start === false ? "vm.clone" : "vm.clone-and-start",
      // Under the source's row lock: a start accepted since the check above refuses the clone.
      after: async (tx, rows) => {
        const [locked] = await tx.select({ state: vms.state }).from(vms).where(eq(vms.id, id)).for("update");
        requireStopped(locked && isVmState(locked.state) ? locked.state : "Unknown", what, "be cloned", NOT_STOPPED);
        await tx.update(vms).set({ clonedFromVmId: id }).where(eq(vms.id, rows[0]!.id));
        // Its firewall too: a copy of the source's disk is as exposed as the source was meant to be.
        const rules = (await securityRulesOf(tx, [id])).get(id) ?? [];
        if (rules.length > 0) await tx.insert(securityRules).values(securityRuleRows(rows[0]!.id, rules));
      },
    }).catch(async (e: unknown) => {
      await releaseUnplaced(this.db, [uuid]);
      throw e;
    });
    const clone = created[0]!;
    this.jobsQueue.enqueue(clone.jobId!);
    return { vm: await this.vmService.get(caller, clone.id), jobId: clone.jobId! };
  }
}
