// Virtual machines as users see them: create (place + commit + deploy job), list, get, delete.
import { randomUUID } from "node:crypto";
import { and, count, desc, eq, getTableColumns, ilike, inArray, isNull, or, sql } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError, OrbitError, UnsupportedError } from "#shared/errors.js";
import type { GpuDemand, PlacementPlan, PlacementRequest, PlacementResult, VmPlacement } from "../allocator/types.js";
import { validateCallbackUrl, type CallbackAddressPolicy } from "../callbacks/callback-url.js";
import type { CatalogService, DeployCatalogInput, Flavor, Image } from "../catalog/catalog-service.js";
import type { Db } from "../db/database.js";
import { affinityGroupMembers, environments, flavors, hosts, images, ipAllocations, jobs, keypairs, networks, regions, securityRules, vms } from "../db/schema.js";
import { parseCidr, poolAddressRange, vmAddressRange } from "../network/cidr.js";
import { releaseUnplaced, reserveAddresses } from "../network/ipam.js";
import type { NetworkService } from "../network/network-service.js";
import type { DestroyRecurse, RunStrategy } from "./vm-lifecycle-options.js";
import type { Environment } from "../environments/environment-service.js";
import { AffinityGroupService } from "../placement/affinity-group-service.js";
import type { CreatedVm, PlacementService } from "../placement/placement-service.js";
import { labelsOf, type FlavorLabel } from "../catalog/flavor-labels.js";
import { rowFromJson } from "../db/json-rows.js";
import type { StoredPlacement, VmDetails } from "./vm-details.js";
import { transitionVm } from "./vm-transitions.js";
import { canDestroyFrom, isVmState } from "./vm-state-machine.js";
import { containsPattern } from "../db/like-pattern.js";
import type { SecurityRuleInput } from "#shared/security-rules.js";
import { checkSecurityRules, securityRuleRows, securityRulesOf, type StoredSecurityRule } from "../security-rules/security-rule-service.js";
import { volumeAttachmentsOf, type VmVolumeAttachment } from "../storage/volume-service.js";
import { attachBootVolume, bootableVolumeNamed, bootVolumePlacement, createBootVolume } from "../storage/boot-volumes.js";
import { rootDiskGib } from "../storage/root-disks.js";

/** userId: the acting user, recorded on the jobs it starts (absent for Orbit's own callers). */
export interface Caller { accountId: number; role: "admin" | "user"; userId?: number }

export interface CreateVmInput {
  name: string;
  environment_name?: string | undefined;
  flavor_name: string;
  /** The image the VMs boot (an overlay of it each); either this or volume_name. */
  image_name?: string | undefined;
  key_name?: string | undefined;
  count?: number | undefined;
  user_data?: string | undefined;
  callback_url?: string | undefined;
  labels?: string[] | undefined;
  /** Affinity groups of the caller's account the VMs join (by name and/or id). */
  affinity_group_names?: string[] | undefined;
  affinity_group_ids?: number[] | undefined;
  /** CloudSigma's avoid: place away from the hosts of these VMs (ids or uuids) when possible. */
  avoid?: (number | string)[] | undefined;
  /** A floating IP from the environment's pool (409 when it has none or it is used up). */
  assign_floating_ip?: boolean | undefined;
  /** With image_name: each VM's root disk is a new bootable volume ("<name>-boot") its delete keeps. */
  create_bootable_volume?: boolean | undefined;
  // Hyperstack fields Orbit does not implement yet: only their harmless values are accepted.
  enable_port_randomization?: boolean | undefined;
  /** The VMs' security rules (each VM gets them all); checked before anything is written. */
  security_rules?: SecurityRuleInput[] | undefined;
  /** Boot the VM (count 1) from this bootable volume of the caller's in the environment, not from an image. */
  volume_name?: string | undefined;
  enhanced_monitoring_enabled?: boolean | undefined;
  profile?: { name: string } | undefined;
  flavor?: Record<string, unknown> | undefined;
  // Orbit's own lifecycle fields (KubeVirt's run strategies, resolved by createStart).
  start?: boolean | undefined;
  ha_enabled?: boolean | undefined;
  run_strategy?: RunStrategy | undefined;
}

/** CloudStack's limit on user data (bytes of UTF-8), kept for both dialects. */
export const MAX_USER_DATA_BYTES = 32 * 1024;

/**
 * Hyperstack create fields Orbit does not implement yet, each with the values that ask for
 * nothing (what Hyperstack's SDKs send by default: `enable_port_randomization: true` is the
 * SDK's default, the others are absent or off). Any other value is refused rather than ignored.
 */
const NOT_YET_SUPPORTED: readonly { field: keyof CreateVmInput; harmless: (v: unknown) => boolean; what: string }[] = [
  { field: "enable_port_randomization", harmless: (v) => v === true, what: "port randomization settings (they apply to floating IPs)" },
  { field: "enhanced_monitoring_enabled", harmless: (v) => v === false, what: "enhanced monitoring" },
  { field: "profile", harmless: () => false, what: "deploy profiles" },
  { field: "flavor", harmless: () => false, what: "inline flavors (name one with flavor_name)" },
];

/**
 * Whether the deploy starts the VM: `start` (default true) and the run strategy must agree.
 * Halted is KubeVirt's "created stopped"; Always is "always running", so neither goes with the
 * other's start. Manual and RerunOnFailure leave the choice to `start`.
 */
export function createStart(input: Pick<CreateVmInput, "start" | "run_strategy">): boolean {
  const rs = input.run_strategy;
  if (rs === "Halted" && input.start === true) {
    throw new InvalidArgumentError("start", "start true conflicts with run_strategy \"Halted\" (a Halted VM is created stopped): leave start out or set it to false");
  }
  if (rs === "Always" && input.start === false) {
    throw new InvalidArgumentError("start", "start false conflicts with run_strategy \"Always\" (an Always VM runs): leave start out or choose Manual or Halted");
  }
  return rs === "Halted" ? false : input.start ?? true;
}

/** Refuses a create that asks for something Orbit does not do yet (a 400 naming the field). */
export function refuseNotYetSupported(input: CreateVmInput): void {
  for (const { field, harmless, what } of NOT_YET_SUPPORTED) {
    const v = input[field];
    if (v !== undefined && !harmless(v)) {
      throw new UnsupportedError(`${field} ${JSON.stringify(v)} is not supported yet: Orbit has no ${what} yet`, field);
    }
  }
}

export interface ListVmsInput {
  page: number;
  pageSize: number;
  /** Name contains (case-insensitive). */
  search?: string | undefined;
  /** Environment name contains (case-insensitive), or equals with exactEnvironmentMatch. */
  environment?: string | undefined;
  exactEnvironmentMatch?: boolean | undefined;
}

export interface JobEnqueuer { enqueue(jobId: number): void }

/** A deploy the admin asks the scheduler about without committing it (POST /v1/admin/placement/dry-run). */
export interface DryRunInput extends DeployCatalogInput {
  count?: number | undefined;
  /** Place as this account would (affinity, user dispersion); the caller's own by default. */
  account_id?: number | undefined;
  seed?: number | undefined;
}

type VmRow = typeof vms.$inferSelect;

/** The account's key pair of that name in the VM's environment (key pairs are per account, admins included); 404 naming key_name. */
export async function keyPairNamed(db: Db, accountId: number, env: { id: number; name: string }, name: string): Promise<{ name: string; publicKey: string }> {
  const [kp] = await db.select({ name: keypairs.name, publicKey: keypairs.publicKey }).from(keypairs)
    .where(and(eq(keypairs.accountId, accountId), eq(keypairs.environmentId, env.id), eq(keypairs.name, name)));
  if (!kp) throw noKeyPair(env, name);
  return kp;
}

function noKeyPair(env: { name: string }, name: string): OrbitError {
  return new OrbitError("not_found", `key_name: your account has no key pair named "${name}" in environment "${env.name}"`, {
    details: { resource: "key pair", id: name, field: "key_name" },
  });
}

/** What a create resolved before placing its VMs. */
interface PlaceVmsContext {
  uuids: string[];
  names: string[];
  env: Environment;
  flavor: Flavor;
  image: Image;
  keyPair: { name: string; publicKey: string } | undefined;
  callbackUrl: string;
  groups: Awaited<ReturnType<AffinityGroupService["resolve"]>>;
  /** False: deployed stopped (start: false / run_strategy Halted). */
  start: boolean;
  /** Checked security rules, written with the VMs. */
  rules: ReturnType<typeof checkSecurityRules>;
  /** What the VMs boot from: an owned overlay of the image (default), a new bootable volume each, or the named volume. */
  boot: BootSource;
}

type BootSource = { kind: "image" } | { kind: "new-volume"; sizeGib: number } | { kind: "volume"; volumeId: number };

/** How the scheduler chose the VM's host, as stored in vms.placement (and shown to admins). */
const storedPlacement = (plan: PlacementPlan, p: VmPlacement): StoredPlacement =>
  ({ policy: plan.policy, seed: plan.seed, host: p.hostName, scores: p.scores, total: p.total, gpus: p.gpus });

const isoView = (image: Image | undefined) => (image ? { id: image.id, name: image.name } : null);

/**
 * A VM created from an ISO (CloudStack's ISO boot) gets a blank root disk and boots the ISO: only a
 * bootable one, and not onto a new bootable volume (which is an overlay of a disk image).
 */
function refuseIsoMisuse(image: Image, input: CreateVmInput): void {
  if (image.format !== "iso" || input.image_name === undefined) return;
  if (!image.bootable) throw new InvalidArgumentError("image_name", `ISO image "${image.name}" is not bootable: attach it to a VM instead`);
  if (input.create_bootable_volume === true) {
    throw new InvalidArgumentError("create_bootable_volume", `image "${image.name}" is an ISO: a VM booting it gets a blank root disk, not a bootable volume`);
  }
}

/** image_name xor volume_name (Hyperstack's rule), and what goes with each; 400 naming the field otherwise. */
function checkBootFields(input: CreateVmInput, count: number): void {
  const volumeName = input.volume_name ?? "";
  if (volumeName !== "" && input.image_name !== undefined) {
    throw new InvalidArgumentError("volume_name", "give image_name or volume_name, not both: a VM booting from a volume runs the volume's image");
  }
  if (volumeName === "" && input.image_name === undefined) throw new InvalidArgumentError("image_name", "image_name or volume_name is required");
  if (volumeName !== "" && count !== 1) throw new InvalidArgumentError("count", `count must be 1 with volume_name (a volume boots one VM); ${count} asked`);
  if (volumeName !== "" && input.create_bootable_volume === true) {
    throw new InvalidArgumentError("create_bootable_volume", "create_bootable_volume goes with image_name: a VM created from volume_name already boots from a volume");
  }
}

export class VmService {
  private readonly groups: AffinityGroupService;

  constructor(
    private readonly db: Db,
    private readonly placement: PlacementService,
    private readonly jobsQueue: JobEnqueuer,
    private readonly catalog: CatalogService,
    private readonly callbackPolicy: () => CallbackAddressPolicy,
    private readonly networks: NetworkService,
  ) {
    this.groups = new AffinityGroupService(db);
  }

  /** uuids of the caller's VMs named in `avoid` (ids or uuids); unknown ones are refused. */
  private async resolveAvoid(caller: Caller, avoid: readonly (number | string)[]): Promise<string[]> {
    if (avoid.length === 0) return [];
    const ids = avoid.filter((a): a is number => typeof a === "number");
    const uuids = avoid.filter((a): a is string => typeof a === "string").map((u) => u.toLowerCase());
    const rows = await this.db.select({ id: vms.id, uuid: vms.uuid }).from(vms).where(and(
      isNull(vms.deletedAt), this.scope(caller),
      or(ids.length ? inArray(vms.id, ids) : undefined, uuids.length ? inArray(vms.uuid, uuids) : undefined),
    ));
    for (const a of avoid) {
      const hit = typeof a === "number" ? rows.some((r) => r.id === a) : rows.some((r) => r.uuid === a.toLowerCase());
      if (!hit) throw new InvalidArgumentError("avoid", `virtual machine ${a} does not exist`);
    }
    return rows.map((r) => r.uuid);
  }

  /** Builds the allocator's request from a flavor. */
  static placementRequest(flavor: Flavor, image: Image, environment: string, accountId: number, count: number): PlacementRequest {
    let gpu: GpuDemand | undefined;
    const models = flavor.gpuModel ? [flavor.gpuModel] : [];
    if (flavor.vgpuType) gpu = { kind: "vgpu", vgpuType: flavor.vgpuType, models };
    else if (flavor.gpuShareMilli > 0) gpu = { kind: "share", milli: flavor.gpuShareMilli, models };
    else if (flavor.gpuCount > 0) gpu = { kind: "passthrough", count: flavor.gpuCount, models };
    return {
      vcpus: flavor.vcpus,
      memoryMib: flavor.memoryMib,
      count,
      accountId: String(accountId),
      environment,
      hostTags: flavor.hostTags,
      osType: image.osType,
      ...(flavor.cpuType ? { cpuType: flavor.cpuType } : {}),
      ...(gpu ? { gpu } : {}),
    };
  }

  /** Where a deploy would go and why, committing nothing (admin API). */
  async dryRun(caller: Caller, input: DryRunInput): Promise<PlacementResult> {
    const accountId = input.account_id ?? caller.accountId;
    const { flavor, image, environment } = await this.catalog.resolveDeploy({ accountId, role: caller.role }, input);
    const request = VmService.placementRequest(flavor, image, environment.region, accountId, input.count ?? 1);
    return this.placement.dryRun(request, input.seed);
  }

  async create(caller: Caller, input: CreateVmInput): Promise<{ vms: VmDetails[]; jobIds: number[]; plan: PlacementPlan }> {
    refuseNotYetSupported(input);
    const start = createStart(input);
    const rules = checkSecurityRules(input.security_rules ?? [], "security_rules");
    const count = input.count ?? 1;
    checkBootFields(input, count);
    if (input.user_data !== undefined && Buffer.byteLength(input.user_data, "utf8") > MAX_USER_DATA_BYTES) {
      throw new InvalidArgumentError("user_data", `user_data is ${Buffer.byteLength(input.user_data, "utf8")} bytes; at most ${MAX_USER_DATA_BYTES} are accepted`);
    }
    const callbackUrl = input.callback_url ? validateCallbackUrl(input.callback_url, "callback_url", this.callbackPolicy()) : "";
    const deploy = await this.catalog.resolveDeploy(caller, input);
    const { flavor, environment: env } = deploy;
    let image = deploy.image;
    refuseIsoMisuse(image, input);
    let boot: BootSource = input.create_bootable_volume === true
      // As large as the flavor's root disk, and never smaller than the image.
      ? { kind: "new-volume", sizeGib: Math.max(flavor.diskGib, image.sizeGib, 1) }
      : { kind: "image" };
    let bootPlacement: Awaited<ReturnType<typeof bootVolumePlacement>> = {};
    if (input.volume_name) {
      const volume = await bootableVolumeNamed(this.db, caller.accountId, env, input.volume_name);
      const [volumeImage] = await this.db.select().from(images).where(eq(images.id, volume.imageId!));
      image = volumeImage!;
      boot = { kind: "volume", volumeId: volume.id };
      bootPlacement = await bootVolumePlacement(this.db, volume);
    }
    // The key pair, the environment's network and the flavor's labels (for the answer): one statement.
    const found = await this.createReads(caller, env, input.key_name, flavor.id);
    if (input.key_name && !found.keyPair) throw noKeyPair(env, input.key_name);
    const keyPair = input.key_name ? found.keyPair : undefined;
    const names = count === 1 ? [input.name] : Array.from({ length: count }, (_, i) => `${input.name}-${i + 1}`);
    for (const n of names) {
      if (n.length > 50) throw new InvalidArgumentError("name", `name "${n}" is longer than 50 characters`);
    }
    const uuids = names.map(() => randomUUID());
    const groups = await this.groups.resolve(caller.accountId, input.affinity_group_names ?? [], input.affinity_group_ids ?? []);
    const avoidVmIds = await this.resolveAvoid(caller, input.avoid ?? []);
    const request: PlacementRequest = {
      ...VmService.placementRequest(flavor, image, env.region, caller.accountId, count),
      vmIds: uuids,
      ...(groups.refs.length ? { affinityGroups: groups.refs } : {}),
      ...(avoidVmIds.length ? { avoidVmIds } : {}),
      // A VM booting from a volume goes where the volume can be reached.
      ...bootPlacement,
    };

    // Addresses are reserved (by VM uuid) before the placement commit, which is one statement
    // shared with concurrent deploys: a full network is a 409 before anything is placed, and a
    // refused placement releases them. A group commit cannot take them in its statement without
    // one request's full network failing the others of its batch.
    // Made now when the environment has none yet.
    const network = found.network ?? await this.networks.forEnvironment(env);
    const where = `environment "${env.name}"`;
    if (input.assign_floating_ip === true && !network.floatingCidr) {
      throw new ConflictError(`${where} has no floating IP pool: an admin sets one (PUT /v1/admin/environments/${env.id}/network)`, undefined, { field: "assign_floating_ip" });
    }
    const fixedIps = await reserveAddresses(this.db, {
      networkId: network.id, kind: "fixed", range: vmAddressRange(parseCidr(network.cidr, "cidr")), vmUuids: uuids, what: `${where} network ${network.cidr}`,
    });
    let floatingIps = new Map<string, string>();
    let committed: Awaited<ReturnType<PlacementService["placeAndCommit"]>>;
    try {
      if (input.assign_floating_ip === true) {
        floatingIps = await reserveAddresses(this.db, {
          networkId: network.id, kind: "floating", range: poolAddressRange(parseCidr(network.floatingCidr!, "floating_ip_pool")),
          vmUuids: uuids, what: `${where} floating IP pool ${network.floatingCidr}`,
        });
      }
      committed = await this.placeVms(request, caller, input, { uuids, names, env, flavor, image, keyPair, callbackUrl, groups, start, rules, boot });
    } catch (e) {
      await releaseUnplaced(this.db, uuids);
      throw e;
    }
    const { plan, vms: result } = committed;
    // The jobs start before anything else can fail: once committed, the deploys run even if the
    // reads below do not (a database outage answers this request 503 but strands nothing).
    const jobIds = result.map((c) => c.jobId!);
    for (const id of jobIds) this.jobsQueue.enqueue(id);
    const vmsOut = await this.createdDetails(caller, input, result, plan, {
      names, env, flavor, image, keyPair, callbackUrl, rules, boot, fixedIps, floatingIps, flavorLabels: found.flavorLabels,
    });
    return { vms: vmsOut, jobIds, plan };
  }

  /**
   * The create's answer, from what its commit wrote (the VMs as they were committed: Creating),
   * not read back: only the flavor's labels are read, and the rules and the boot volume's
   * attachment when the create had them (their ids and times are the database's).
   */
  private async createdDetails(
    caller: Caller, input: CreateVmInput, created: readonly CreatedVm[], plan: PlacementPlan,
    o: Pick<PlaceVmsContext, "names" | "env" | "flavor" | "image" | "keyPair" | "callbackUrl" | "rules" | "boot"> & {
      fixedIps: ReadonlyMap<string, string>; floatingIps: ReadonlyMap<string, string>; flavorLabels: FlavorLabel[];
    },
  ): Promise<VmDetails[]> {
    const ids = created.map((c) => c.id);
    const [rules, attachments] = await Promise.all([
      o.rules.length > 0 ? securityRulesOf(this.db, ids) : new Map<number, StoredSecurityRule[]>(),
      o.boot.kind !== "image" ? volumeAttachmentsOf(this.db, ids) : new Map<number, VmVolumeAttachment[]>(),
    ]);
    const admin = caller.role === "admin";
    return created.map((c) => {
      const p = plan.placements.find((x) => x.index === c.index)!;
      return {
        id: c.id,
        uuid: c.uuid,
        name: o.names[c.index]!,
        state: "Creating",
        stateReason: "",
        labels: input.labels ?? [],
        callbackUrl: o.callbackUrl,
        keyName: o.keyPair?.name ?? null,
        runStrategy: input.run_strategy ?? null,
        haEnabled: input.ha_enabled ?? false,
        createdAt: c.createdAt,
        environment: o.env,
        flavor: o.flavor,
        flavorLabels: o.flavorLabels,
        image: o.image,
        // Created from an ISO: it is in the cdrom (placeVms' after).
        iso: o.image.format === "iso" ? isoView(o.image) : null,
        host: admin ? { id: Number(p.hostId), name: p.hostName } : null,
        placement: admin ? storedPlacement(plan, p) : null,
        fixedIp: o.fixedIps.get(c.uuid) ?? null,
        floatingIp: o.floatingIps.get(c.uuid) ?? null,
        securityRules: rules.get(c.id) ?? [],
        volumeAttachments: attachments.get(c.id) ?? [],
      };
    });
  }

  /**
   * The VMs, their deploy jobs and allocations are written by the placement commit itself (one
   * statement, shared with concurrent deploys); the group members only when there are groups
   * (such requests commit alone anyway). The full rows are read after it.
   */
  private placeVms(request: PlacementRequest, caller: Caller, input: CreateVmInput, o: PlaceVmsContext) {
    const { uuids, names, env, flavor, image, keyPair, callbackUrl, groups, start, rules, boot } = o;
    return this.placement.placeAndCommit(request, {
      vm: (p, plan) => ({
        uuid: uuids[p.index]!, name: names[p.index]!, accountId: caller.accountId, userId: caller.userId ?? null, environmentId: env.id,
        flavorId: flavor.id, imageId: image.id, labels: input.labels ?? [], userData: input.user_data ?? "",
        callbackUrl, keyName: keyPair?.name ?? "", sshAuthorizedKeys: keyPair ? [keyPair.publicKey] : [],
        runStrategy: input.run_strategy ?? null, haEnabled: input.ha_enabled ?? false,
        // Its owned root disk counts in its cluster's pool; a VM booting from a volume has none (the volume counts).
        rootDiskGib: boot.kind === "image" ? rootDiskGib(flavor, image) : null,
        placement: { ...storedPlacement(plan, p) },
      }),
      jobKind: "vm.deploy",
      ...(start ? {} : { jobInput: { start: false } }),
      // Such requests commit alone (not in a group commit): only when there is something to write.
      ...(groups.rows.length > 0 || rules.length > 0 || boot.kind !== "image" || image.format === "iso" ? {
        after: async (tx, created) => {
          if (groups.rows.length > 0) {
            await tx.insert(affinityGroupMembers).values(created.flatMap((vm) => groups.rows.map((g) => ({ groupId: g.id, vmId: vm.id }))));
          }
          if (rules.length > 0) await tx.insert(securityRules).values(created.flatMap((vm) => securityRuleRows(vm.id, rules)));
          // Created from an ISO: it is in the cdrom, booted first, until detached.
          if (image.format === "iso") await tx.update(vms).set({ isoImageId: image.id }).where(inArray(vms.id, created.map((vm) => vm.id)));
          // A refused volume (taken meanwhile, or no room for a new one) refuses the whole create.
          for (const vm of created) {
            if (boot.kind === "volume") await attachBootVolume(tx, vm.id, boot.volumeId);
            if (boot.kind === "new-volume") {
              await createBootVolume(tx, { id: vm.id, name: names[vm.index]!, accountId: caller.accountId, environmentId: env.id }, image, boot.sizeGib);
            }
          }
        },
      } : {}),
    });
  }

  /** A create's reads after the catalog's, in one statement: the named key pair, the environment's network (if made yet), the flavor's labels. */
  private async createReads(caller: Caller, env: { id: number }, keyName: string | undefined, flavorId: number): Promise<{
    keyPair: { name: string; publicKey: string } | undefined; network: typeof networks.$inferSelect | undefined; flavorLabels: FlavorLabel[];
  }> {
    const res = (await this.db.execute(sql`
      select
        (select json_build_object('name', k.name, 'publicKey', k.public_key) from keypairs k
           where k.account_id = ${caller.accountId} and k.environment_id = ${env.id} and k.name = ${keyName ?? null}::text) as key_pair,
        (select row_to_json(n) from networks n where n.environment_id = ${env.id}) as network,
        (select coalesce(json_agg(json_build_object('id', l.id, 'label', l.label) order by l.id), '[]'::json)
           from flavor_labels l where l.flavor_id = ${flavorId}) as labels`)) as unknown as { rows: Record<string, unknown>[] };
    const r = res.rows[0]!;
    const j = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;
    const network = j<Record<string, unknown> | null>(r.network);
    return {
      keyPair: j<{ name: string; publicKey: string } | null>(r.key_pair) ?? undefined,
      network: network ? rowFromJson(networks, network) : undefined,
      flavorLabels: j<FlavorLabel[]>(r.labels),
    };
  }

  private scope(caller: Caller) {
    return caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
  }

  async list(caller: Caller, q: ListVmsInput): Promise<{ vms: VmDetails[]; total: number }> {
    const { page, pageSize } = q;
    const envFilter = q.environment === undefined ? undefined : inArray(vms.environmentId,
      this.db.select({ id: environments.id }).from(environments).where(q.exactEnvironmentMatch
        ? eq(environments.name, q.environment)
        : ilike(environments.name, containsPattern(q.environment))));
    const where = and(isNull(vms.deletedAt), this.scope(caller),
      q.search ? ilike(vms.name, containsPattern(q.search)) : undefined, envFilter);
    const [{ n }] = (await this.db.select({ n: count() }).from(vms).where(where)) as [{ n: number }];
    // The page's ids first (from the live-VM indexes alone, however deep the offset), then their rows.
    const pageIds = this.db.select({ id: vms.id }).from(vms).where(where).orderBy(desc(vms.id))
      .limit(pageSize).offset((page - 1) * pageSize);
    const rows = await this.db.select().from(vms).where(inArray(vms.id, pageIds)).orderBy(desc(vms.id));
    return { vms: await this.details(rows, caller), total: Number(n) };
  }

  /**
   * Which of the names a create of `count` VMs named `name` would give (NAME, or NAME-1..NAME-N)
   * the caller's live VMs already have. Names need not be unique: this is the check a client makes first.
   */
  async namesTaken(caller: Caller, name: string, count: number): Promise<string[]> {
    const names = count === 1 ? [name] : Array.from({ length: count }, (_, i) => `${name}-${i + 1}`);
    const rows = await this.db.selectDistinct({ name: vms.name }).from(vms)
      .where(and(isNull(vms.deletedAt), eq(vms.accountId, caller.accountId), inArray(vms.name, names)));
    return names.filter((n) => rows.some((r) => r.name === n));
  }

  async get(caller: Caller, id: number): Promise<VmDetails> {
    const [vm] = await this.details([await this.row(caller, id)], caller);
    return vm!;
  }

  private async row(caller: Caller, id: number): Promise<VmRow> {
    const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, id), this.scope(caller)));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    return vm;
  }

  /**
   * Moves the VM to Destroying and queues the destroy job, which records `recurse` (the drives to
   * delete with it) for the storage issue: VMs have no attached drives yet.
   */
  async destroy(caller: Caller, id: number, recurse: DestroyRecurse = "none"): Promise<{ vm: VmDetails; jobId: number }> {
    const vm = await this.row(caller, id);
    const state = isVmState(vm.state) ? vm.state : "Unknown";
    if (state === "Destroying") {
      const [job] = await this.db.select({ id: jobs.id }).from(jobs)
        .where(and(eq(jobs.vmId, id), eq(jobs.kind, "vm.destroy"))).orderBy(desc(jobs.id)).limit(1);
      if (job) return { vm: (await this.details([vm], caller))[0]!, jobId: job.id };
    }
    if (!canDestroyFrom(state)) throw new ConflictError(`virtual machine ${id} cannot be deleted while ${state}`, state);
    const jobId = await this.db.transaction(async (tx) => {
      await transitionVm(tx, id, "Destroying", "user requested delete");
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: "vm.destroy", vmId: id, accountId: caller.accountId, userId: caller.userId ?? null, input: { recurse },
      }).returning({ id: jobs.id });
      return job!.id;
    });
    this.jobsQueue.enqueue(jobId);
    const [after] = await this.db.select().from(vms).where(eq(vms.id, id));
    if (!after) throw new NotFoundError("virtual machine", id);
    return { vm: (await this.details([after], caller))[0]!, jobId };
  }

  /**
   * The rows with their flavor, image and environment (one query per referenced table). The host
   * and how the scheduler chose it are resolved for admins only: users see their VM, not the fleet.
   */
  private async details(rows: VmRow[], viewer: Pick<Caller, "role">): Promise<VmDetails[]> {
    if (rows.length === 0) return [];
    const admin = viewer.role === "admin";
    const flavorIds = [...new Set(rows.map((r) => r.flavorId))];
    const imageIds = [...new Set(rows.flatMap((r) => (r.isoImageId == null ? [r.imageId] : [r.imageId, r.isoImageId])))];
    const envIds = [...new Set(rows.map((r) => r.environmentId))];
    const hostIds = [...new Set(rows.flatMap((r) => (r.hostId == null ? [] : [r.hostId])))];
    const [fs, labels, is, es, hs, ips, rules, attachments] = await Promise.all([
      this.db.select().from(flavors).where(inArray(flavors.id, flavorIds)),
      labelsOf(this.db, flavorIds),
      this.db.select().from(images).where(inArray(images.id, imageIds)),
      this.db.select({ ...getTableColumns(environments), region: regions.name }).from(environments)
        .innerJoin(regions, eq(regions.id, environments.regionId)).where(inArray(environments.id, envIds)),
      admin && hostIds.length ? this.db.select({ id: hosts.id, name: hosts.name }).from(hosts).where(inArray(hosts.id, hostIds)) : [],
      this.db.select({ vmUuid: ipAllocations.vmUuid, kind: ipAllocations.kind, address: ipAllocations.address }).from(ipAllocations)
        .where(inArray(ipAllocations.vmUuid, rows.map((r) => r.uuid))),
      securityRulesOf(this.db, rows.map((r) => r.id)),
      volumeAttachmentsOf(this.db, rows.map((r) => r.id)),
    ]);
    const ip = (uuid: string, kind: string) => ips.find((a) => a.vmUuid === uuid && a.kind === kind)?.address ?? null;
    // Foreign keys guarantee the flavor, image and environment exist.
    return rows.map((r) => ({
      id: r.id,
      uuid: r.uuid,
      name: r.name,
      state: isVmState(r.state) ? r.state : "Unknown",
      stateReason: r.stateReason,
      labels: r.labels,
      callbackUrl: r.callbackUrl,
      keyName: r.keyName || null,
      runStrategy: r.runStrategy,
      haEnabled: r.haEnabled,
      createdAt: r.createdAt,
      environment: es.find((x) => x.id === r.environmentId)!,
      flavor: fs.find((x) => x.id === r.flavorId)!,
      flavorLabels: labels.get(r.flavorId) ?? [],
      image: is.find((x) => x.id === r.imageId)!,
      iso: isoView(is.find((x) => x.id === r.isoImageId)),
      host: hs.find((h) => h.id === r.hostId) ?? null,
      placement: admin && r.placement ? (r.placement as unknown as StoredPlacement) : null,
      fixedIp: ip(r.uuid, "fixed"),
      floatingIp: ip(r.uuid, "floating"),
      securityRules: rules.get(r.id) ?? [],
      volumeAttachments: attachments.get(r.id) ?? [],
    }));
  }
}
