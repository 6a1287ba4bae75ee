// A VM's actions on Hyperstack's routes: start, stop, hard-reboot, hibernate and hibernate-restore
// (GET, as the spec; POST accepted too), and Orbit's shutdown (ACPI) and reboot (graceful); labels
// (PUT .../label), resize (POST .../resize: a stopped VM, or a running one live) and Orbit's rename (PUT .../name),
// reinstall (POST .../restore), clone and reset-ssh-key. Jobs' actions answer at once with the job id.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VmActions } from "../../vm/vm-actions.js";
import type { VmClones } from "../../vm/vm-clone.js";
import type { VmAction } from "../../vm/vm-state-machine.js";
import { hyperstackStatus, instanceView } from "./instance.presenter.js";
import { Instance } from "./instance.schema.js";
import { errors, IdParams, ok, ResourceName, SingleLineText } from "../schemas.js";

/** The spec's ResponseModel, with the action's job and the status the VM shows while it runs. */
const ActionResponse = ok({
  job_id: Type.Integer({ description: "The job doing the action (GET /v1/core/jobs/{id})" }),
  instance_status: Type.String({ description: "The VM's status now, e.g. SHUTTING_DOWN while a stop runs" }),
});
const UpdateResponse = ok({});
/** The spec's ResponseModel; a live resize adds its job. */
const ResizeResponse = ok({
  job_id: Type.Optional(Type.Integer({ description: "Orbit: a running VM's live resize, the vm.scale job doing it (GET /v1/core/jobs/{id})" })),
});

const HibernateQuery = Type.Object({
  retain_ip: Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")], {
    description: "Accepted for Hyperstack compatibility: Orbit's VMs keep their addresses while hibernated",
  })),
}, { additionalProperties: false });

const ACTION_ROUTES: readonly { path: string; action: VmAction; summary: string; orbitOnly?: boolean }[] = [
  { path: "start", action: "start", summary: "Start a stopped (or hibernated) virtual machine" },
  { path: "stop", action: "stop", summary: "Power a virtual machine off (no guest shutdown)" },
  { path: "hard-reboot", action: "hard-reboot", summary: "Reset a running virtual machine (no guest cooperation)" },
  { path: "hibernate", action: "hibernate", summary: "Hibernate a virtual machine: its memory is saved on the host and it powers off" },
  { path: "hibernate-restore", action: "hibernate-restore", summary: "Restore a hibernated virtual machine" },
  { path: "shutdown", action: "shutdown", summary: "Orbit: ask the guest to shut down (ACPI); the VM stays running if it does not within vm.shutdown.timeout.ms", orbitOnly: true },
  { path: "reboot", action: "reboot", summary: "Orbit: ask the guest to reboot (ACPI)", orbitOnly: true },
];

const MESSAGES: Record<VmAction, string> = {
  start: "Virtual machine is starting",
  stop: "Virtual machine is stopping",
  shutdown: "Virtual machine is shutting down",
  reboot: "Virtual machine is rebooting",
  "hard-reboot": "Virtual machine is being reset",
  hibernate: "Virtual machine is hibernating",
  "hibernate-restore": "Virtual machine is being restored from hibernation",
  reinstall: "Virtual machine is being reinstalled",
};

const RestoreResponse = ok({
  job_id: Type.Integer({ description: "The job doing the reinstall (GET /v1/core/jobs/{id})" }),
  instance_status: Type.String({ description: "REBUILDING while the job runs" }),
  image_name: Type.String({ description: "The image the root disk is made afresh from (now the VM's image)" }),
});

const ResetSshKeyResponse = ok({
  job_id: Type.Integer({ description: "The action's job, recorded done: the key reaches the guest at its next boot" }),
  key_name: Type.String(),
});

const CloneResponse = ok({
  instance: Instance,
  job_id: Type.Integer({ description: "The job copying the disk (and starting the clone)" }),
});

export const vmActionRoutes = (actions: VmActions, clones: VmClones): FastifyPluginAsyncTypebox => async (app) => {
  for (const r of ACTION_ROUTES) {
    app.route({
      // Hyperstack's routes are GETs; Orbit's own extras are POSTs only.
      method: r.orbitOnly ? ["POST"] : ["GET", "POST"],
      url: `/v1/core/virtual-machines/:id/${r.path}`,
      schema: {
        tags: ["virtual-machines"], summary: r.summary, params: IdParams,
        ...(r.action === "hibernate" ? { querystring: HibernateQuery } : {}),
        response: { 200: ActionResponse, ...errors },
      },
      handler: async (req) => {
        const { jobId, state } = await actions.power(req.principal, (req.params as { id: number }).id, r.action);
        return { status: true as const, message: MESSAGES[r.action], job_id: jobId, instance_status: hyperstackStatus(state).status };
      },
    });
  }

  app.put("/v1/core/virtual-machines/:id/label", {
    schema: {
      tags: ["virtual-machines"], summary: "Set a virtual machine's labels (replaces them all)", params: IdParams,
      body: Type.Object({
        labels: Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 32 }),
      }, { additionalProperties: false }),
      response: { 200: UpdateResponse, ...errors },
    },
  }, async (req) => {
    await actions.setLabels(req.principal, req.params.id, req.body.labels);
    return { status: true as const, message: "Virtual machine labels updated" };
  });

  app.post("/v1/core/virtual-machines/:id/resize", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Resize a virtual machine to another flavor (on the same host): a stopped one, or a running one live",
      description: "A stopped VM takes the new size at its next start. A running VM is resized live (CloudStack's dynamic scaling) when the setting "
        + "enable.dynamic.scale.vm is true and was when it started (its domain then has headroom: twice its flavor's vCPUs and memory, within its host): "
        + "the answer carries the vm.scale job that hot-plugs the vCPUs and sets the memory; if the host cannot, the VM keeps running with its old flavor. "
        + "409 (details.rule names which) for a running VM whose new flavor has other GPUs (stop it first), fewer vCPUs (unplug needs the guest), "
        + "less memory than it booted with, more than its headroom, or does not fit on its host (live migration elsewhere is not available yet). "
        + "What the new flavor adds must fit on the VM's host (409 with the placement's reasons otherwise).",
      params: IdParams,
      body: Type.Object({ flavor_name: SingleLineText({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
      response: { 200: ResizeResponse, ...errors },
    },
  }, async (req) => {
    const { jobId } = await actions.resize(req.principal, req.params.id, req.body.flavor_name);
    if (jobId === undefined) return { status: true as const, message: `Virtual machine resized to ${req.body.flavor_name}` };
    return { status: true as const, message: `Virtual machine is being resized to ${req.body.flavor_name} while it runs`, job_id: jobId };
  });

  app.post("/v1/core/virtual-machines/:id/restore", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Orbit: reinstall a virtual machine (CloudStack's restoreVirtualMachine): a fresh root disk on its image or another",
      description: "The root disk is replaced by a fresh one on the VM's image, or on image_name (an image of the VM's region, which becomes the VM's image); "
        + "everything on the old disk is lost. Flavor, addresses and keys stay. A running VM is stopped for it and started again; a stopped one stays stopped. "
        + "409 naming the state when the VM is neither running nor stopped.",
      params: IdParams,
      body: Type.Object({
        image_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 200, description: "Default: the VM's current image" })),
      }, { additionalProperties: false, description: "Optional: no body reinstalls from the VM's current image" }),
      response: { 200: RestoreResponse, ...errors },
    },
    // The body is optional: none is an empty one.
    preValidation: async (req) => {
      req.body ??= {};
    },
  }, async (req) => {
    const r = await actions.reinstall(req.principal, req.params.id, req.body.image_name);
    return { status: true as const, message: MESSAGES.reinstall, job_id: r.jobId, instance_status: hyperstackStatus(r.state).status, image_name: r.imageName };
  });

  app.post("/v1/core/virtual-machines/:id/clone", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Orbit: clone a stopped virtual machine (same flavor, image, keys, labels, environment; a full copy of its root disk)",
      description: "The source must be stopped (409 otherwise: a running VM's disk cannot be copied consistently without snapshots). "
        + "The clone is placed on the source's host, where its disk is (409 with the placement's reasons when it does not fit there); "
        + "the account's limits apply as for a create. It starts once its disk is copied, unless start is false.",
      params: IdParams,
      body: Type.Object({
        name: ResourceName({ maxLength: 50, description: "The clone's name: 1-50 characters: letters, digits, . _ -" }),
        start: Type.Optional(Type.Boolean({ default: true, description: "false: leave the clone stopped once its disk is copied" })),
      }, { additionalProperties: false }),
      response: { 200: CloneResponse, ...errors },
    },
  }, async (req) => {
    const r = await clones.clone(req.principal, req.params.id, req.body);
    return { status: true as const, message: "Virtual machine is being cloned", instance: instanceView(r.vm), job_id: r.jobId };
  });

  app.post("/v1/core/virtual-machines/:id/reset-ssh-key", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Orbit: give a stopped virtual machine another key pair (CloudStack's resetSSHKeyForVirtualMachine)",
      description: "key_name is a key pair of your account in the VM's environment; it replaces the VM's key. The VM must be stopped (409 otherwise): "
        + "its next boot's cloud-init seed carries the key with a new instance-id, so cloud-init installs it.",
      params: IdParams,
      body: Type.Object({ key_name: SingleLineText({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
      response: { 200: ResetSshKeyResponse, ...errors },
    },
  }, async (req) => {
    const r = await actions.resetSshKey(req.principal, req.params.id, req.body.key_name);
    return { status: true as const, message: "Virtual machine SSH key reset: it is installed at the next start", job_id: r.jobId, key_name: r.keyName };
  });

  app.put("/v1/core/virtual-machines/:id/name", {
    schema: {
      tags: ["virtual-machines"], summary: "Orbit: rename a virtual machine", params: IdParams,
      body: Type.Object({
        name: ResourceName({ maxLength: 50, description: "1-50 characters: letters, digits, . _ -" }),
      }, { additionalProperties: false }),
      response: { 200: UpdateResponse, ...errors },
    },
  }, async (req) => {
    await actions.rename(req.principal, req.params.id, req.body.name);
    return { status: true as const, message: "Virtual machine renamed" };
  });
};
