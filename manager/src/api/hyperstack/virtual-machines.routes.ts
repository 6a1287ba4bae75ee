import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VmService } from "../../vm/vm-service.js";
import { MAX_CALLBACK_URL_LENGTH } from "../../callbacks/callback-url.js";
import { MAX_USER_DATA_BYTES } from "../../vm/vm-service.js";
import { DESTROY_RECURSE } from "../../vm/vm-lifecycle-options.js";
import { errors, Id, IdParams, MultiLineText, ok, ResourceName, SingleLineText, Uuid } from "../schemas.js";
import { NameAvailability } from "./name-availability.schema.js";
import { instanceView } from "./instance.presenter.js";
import { Instance, RunStrategyValue } from "./instance.schema.js";
import { CreateSecurityRuleBody } from "./security-rule.schema.js";
import { MAX_SECURITY_RULES_PER_VM } from "#shared/security-rules.js";

/** Bounded so that (page - 1) * page_size stays a small integer (an SQL offset). */
const MAX_PAGE = 1_000_000;

const CreateBody = Type.Object({
  name: ResourceName({ maxLength: 50, description: "1-50 characters: letters, digits, . _ -" }),
  environment_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 63 })),
  flavor_name: SingleLineText({ minLength: 1, maxLength: 100 }),
  image_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 200, description: "The image the VMs boot; either this or volume_name" })),
  key_name: Type.Optional(SingleLineText({ maxLength: 100, description: "A key pair of your account in the VM's environment: its public key is put in the VM's cloud-init seed" })),
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, default: 1, description: "1-20 VMs named NAME-1..NAME-N" })),
  user_data: Type.Optional(MultiLineText({ maxLength: MAX_USER_DATA_BYTES, description: `cloud-init user data (no NUL), at most ${MAX_USER_DATA_BYTES} bytes of UTF-8` })),
  callback_url: Type.Optional(SingleLineText({ maxLength: MAX_CALLBACK_URL_LENGTH, description: "http(s) URL the VM's events are POSTed to (\"\" for none)" })),
  labels: Type.Optional(Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 32 })),
  affinity_group_names: Type.Optional(Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 16, description: "Affinity groups of your account the VMs join" })),
  affinity_group_ids: Type.Optional(Type.Array(Id(), { maxItems: 16 })),
  avoid: Type.Optional(Type.Array(Type.Union([Id(), Uuid()]), { maxItems: 100, description: "CloudSigma's avoid: keep away from the hosts of these VMs (ids or uuids) when possible" })),
  // Not supported yet: the values Hyperstack clients send by default are accepted, others refused (vm-service.ts).
  assign_floating_ip: Type.Optional(Type.Boolean({ description: "Attach a floating IP from the environment's pool (409 when it has none, or none is free)" })),
  create_bootable_volume: Type.Optional(Type.Boolean({ description: "With image_name: each VM's root disk is a new bootable volume named \"<name>-boot\" (its size reserved in a storage pool of the VM's cluster, 409 when none has room), kept when the VM is deleted" })),
  enable_port_randomization: Type.Optional(Type.Boolean({ description: "Not supported yet: only true (Hyperstack's default) is accepted" })),
  security_rules: Type.Optional(Type.Array(Type.Omit(CreateSecurityRuleBody, ["virtual_machine_id"], { additionalProperties: false }), { maxItems: MAX_SECURITY_RULES_PER_VM, description: "Firewall rules every VM created gets (as POST .../sg-rules adds them)" })),
  volume_name: Type.Optional(SingleLineText({ maxLength: 250, description: "Boot the VM (count 1) from this available bootable volume of your account in the environment instead of image_name; deleting the VM keeps the volume (\"\" for none)" })),
  enhanced_monitoring_enabled: Type.Optional(Type.Boolean({ description: "Not supported yet: only false is accepted" })),
  profile: Type.Optional(Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false, description: "Not supported yet: deploy profiles do not exist in Orbit" })),
  flavor: Type.Optional(Type.Object({
    cpu: Type.Optional(Type.Integer()), ram: Type.Optional(Type.Number()), disk: Type.Optional(Type.Integer()),
    gpu: Type.Optional(SingleLineText({ maxLength: 100 })), gpu_count: Type.Optional(Type.Integer()),
  }, { additionalProperties: false, description: "Not supported yet: name a flavor with flavor_name" })),
  // Orbit's own lifecycle fields (KubeVirt's run strategies).
  start: Type.Optional(Type.Boolean({ description: "false: placed with its capacity held but left stopped (SHUTOFF) until the start action. Default true, false with run_strategy Halted" })),
  ha_enabled: Type.Optional(Type.Boolean({ description: "HA: restarted on another host when its host is declared Down (its disks must be on shared storage), and on its host when its domain stops without an API call" })),
  run_strategy: Type.Optional(Type.Union(RunStrategyValue.anyOf, {
    description: "KubeVirt's run strategy, stored and shown. Halted: created stopped (with start true: 400). Always (with start false: 400), "
      + "RerunOnFailure, Manual: started per start; the restarts Always and RerunOnFailure ask for come with HA (issue 15)",
  })),
}, { additionalProperties: false });

const DeleteQuery = Type.Object({
  recurse: Type.Optional(Type.Union(DESTROY_RECURSE.map((v) => Type.Literal(v)), {
    description: "CloudSigma's recurse: the attached drives deleted with the VM (all_drives, disks, cdroms); none (the default) detaches "
      + "and keeps them. Recorded in the delete job: VMs have no attached drives until volumes arrive (issue 13)",
  })),
}, { additionalProperties: false });

const NameAvailabilityParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const NameAvailabilityQuery = Type.Object({
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: "VMs a create would make (NAME-1..NAME-N when more than 1)" })),
}, { additionalProperties: false });

/** Firewall ids, one per parameter or comma-separated (Orbit has no firewalls: none is excluded). */
const FirewallIds = Type.String({ pattern: "^[0-9]{1,16}(,[0-9]{1,16})*$", maxLength: 2000 });

export const virtualMachineRoutes = (vmsvc: VmService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Create virtual machines",
      description: "Places the VM(s) and answers at once with them in CREATING state and the deploy job id(s).",
      body: CreateBody,
      response: { 200: ok({ instances: Type.Array(Instance), job_id: Type.Integer(), job_ids: Type.Array(Type.Integer()) }), ...errors },
    },
  }, async (req) => {
    const r = await vmsvc.create(req.principal, req.body);
    return {
      status: true as const, message: `${r.vms.length} virtual machine(s) are being created`,
      instances: r.vms.map(instanceView), job_id: r.jobIds[0]!, job_ids: r.jobIds,
    };
  });

  app.get("/v1/core/virtual-machines", {
    schema: {
      tags: ["virtual-machines"],
      summary: "List virtual machines",
      querystring: Type.Object({
        page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
        pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Hyperstack's spelling of page_size" })),
        page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        search: Type.Optional(SingleLineText({ maxLength: 100, description: "Only VMs whose name contains this (case-insensitive)" })),
        environment: Type.Optional(SingleLineText({ maxLength: 63, description: "Only VMs in environments whose name contains this (exactly this with exact_environment_match)" })),
        exact_environment_match: Type.Optional(Type.Boolean({ default: false })),
        exclude_firewalls: Type.Optional(Type.Union([FirewallIds, Type.Array(FirewallIds, { maxItems: 100 })], { description: "Accepted; Orbit has no firewalls, so no VM is excluded" })),
      }, { additionalProperties: false }),
      response: { 200: ok({ count: Type.Integer(), page: Type.Integer(), page_size: Type.Integer(), instances: Type.Array(Instance) }), ...errors },
    },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { vms, total } = await vmsvc.list(req.principal, {
      page, pageSize, search: req.query.search, environment: req.query.environment,
      exactEnvironmentMatch: req.query.exact_environment_match ?? false,
    });
    return { status: true as const, message: "Getting instances success", count: total, page, page_size: pageSize, instances: vms.map(instanceView) };
  });

  app.get("/v1/core/virtual-machines/:id", {
    schema: {
      tags: ["virtual-machines"], summary: "Get a virtual machine", params: IdParams,
      response: { 200: ok({ instance: Instance }), ...errors },
    },
  }, async (req) => {
    const vm = await vmsvc.get(req.principal, req.params.id);
    return { status: true as const, message: "Getting instance success", instance: instanceView(vm) };
  });

  app.get("/v1/core/virtual-machines/name-availability/:name", {
    schema: {
      tags: ["virtual-machines"], summary: "Check a virtual machine name",
      description: "Whether a create with this name (and count) would make names none of your live VMs has.",
      params: NameAvailabilityParams, querystring: NameAvailabilityQuery, response: { 200: NameAvailability, ...errors },
    },
  }, async (req) => {
    const taken = await vmsvc.namesTaken(req.principal, req.params.name, req.query.count ?? 1);
    return {
      status: true as const, name: req.params.name, available: taken.length === 0,
      message: taken.length === 0 ? "Name is available" : `Name is taken by your virtual machine(s) ${taken.map((n) => `"${n}"`).join(", ")}`,
    };
  });

  app.delete("/v1/core/virtual-machines/:id", {
    schema: {
      tags: ["virtual-machines"], summary: "Delete a virtual machine", params: IdParams, querystring: DeleteQuery,
      response: { 200: ok({ job_id: Type.Integer(), instance: Instance }), ...errors },
    },
  }, async (req) => {
    const { vm, jobId } = await vmsvc.destroy(req.principal, req.params.id, req.query.recurse);
    return { status: true as const, message: "Virtual machine deletion initiated", job_id: jobId, instance: instanceView(vm) };
  });
};
