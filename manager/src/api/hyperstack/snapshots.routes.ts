// VM snapshots on Hyperstack's routes (create on the VM, list/get/delete on /v1/core/snapshots,
// name availability), with Orbit's in-place revert (Hyperstack's restore makes a new VM instead)
// and a per-VM list. Rules and their statuses: vm/vm-snapshots.ts.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VmSnapshots } from "../../vm/vm-snapshots.js";
import { errors, Id, IdParams, ok } from "../schemas.js";
import { NameAvailability } from "./name-availability.schema.js";
import { snapshotDetailView, snapshotView } from "./snapshot.presenter.js";
import { CreateSnapshotBody, ListSnapshotsQuery, SnapshotDetailView, SnapshotNameParams, SnapshotView } from "./snapshot.schema.js";

const tags = ["snapshots"];
const JobId = Id("The job doing it (GET /v1/core/jobs/{id})");
const SnapshotList = ok({ snapshots: Type.Array(SnapshotView), count: Type.Integer({ description: "Snapshots matching, on all pages" }), page: Type.Integer(), page_size: Type.Integer() });

export const snapshotRoutes = (snapshots: VmSnapshots): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines/:id/snapshots", {
    schema: {
      tags, params: IdParams, body: CreateSnapshotBody,
      summary: "Create a snapshot of a virtual machine",
      description: "A snapshot of the VM's disks (all of them, attached volumes included) and, with memory, of its running state, taken by a job. "
        + "The VM must be Running or Stopped (409). Refused, changing nothing: a VM with vmsnapshot.max snapshots already (409 naming the limit, CloudStack's rule), "
        + "a snapshot operation of the VM in progress (409: one at a time), memory of a stopped VM (400) or of a VM with a GPU (409: its device state cannot be saved), "
        + "a name the account already has (409). A snapshot not done within vmsnapshot.create.wait seconds is aborted and removed from the host: it ends in Error.",
      response: { 201: ok({ snapshot: SnapshotView, job_id: JobId }), ...errors },
    },
  }, async (req, reply) => {
    const b = req.body;
    const { snapshot, jobId } = await snapshots.create(req.principal, req.params.id, { name: b.name, description: b.description, memory: b.memory, quiesce: b.quiesce });
    void reply.code(201);
    return { status: true as const, message: "Snapshot is being created", snapshot: snapshotView(snapshot), job_id: jobId };
  });

  app.get("/v1/core/virtual-machines/:id/snapshots", {
    schema: { tags, params: IdParams, querystring: ListSnapshotsQuery, summary: "Orbit: list a virtual machine's snapshots", response: { 200: SnapshotList, ...errors } },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { snapshots: list, total } = await snapshots.list(req.principal, { vmId: req.params.id, page, pageSize, search: req.query.search });
    return { status: true as const, message: "Getting snapshots success", snapshots: list.map(snapshotView), count: total, page, page_size: pageSize };
  });

  app.get("/v1/core/snapshots", {
    schema: { tags, querystring: ListSnapshotsQuery, summary: "List snapshots", response: { 200: SnapshotList, ...errors } },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { snapshots: list, total } = await snapshots.list(req.principal, { page, pageSize, search: req.query.search });
    return { status: true as const, message: "Getting snapshots success", snapshots: list.map(snapshotView), count: total, page, page_size: pageSize };
  });

  app.get("/v1/core/snapshots/name-availability/:name", {
    schema: { tags, params: SnapshotNameParams, summary: "Check a snapshot name", description: "Whether your account has no snapshot of this name (names are unique in an account).", response: { 200: NameAvailability, ...errors } },
  }, async (req) => {
    const available = await snapshots.nameAvailable(req.principal, req.params.name);
    return { status: true as const, name: req.params.name, available, message: available ? "Name is available" : `Your account already has a snapshot named "${req.params.name}"` };
  });

  app.get("/v1/core/snapshots/:id", {
    schema: { tags, params: IdParams, summary: "Retrieve a snapshot", description: "Hyperstack's retrieve: the snapshot with its VM's name, status, flavor, image, key pair, environment and region.", response: { 200: ok({ snapshot: SnapshotDetailView }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting snapshot success", snapshot: snapshotDetailView(await snapshots.details(req.principal, req.params.id)) }));

  app.delete("/v1/core/snapshots/:id", {
    schema: {
      tags, params: IdParams, summary: "Delete a snapshot",
      description: "Removes it from the VM's host (a job; its children keep their data and hang off its parent). A Ready snapshot, or one in Error; 409 while a snapshot operation of its VM is in progress.",
      response: { 200: ok({ snapshot: SnapshotView, job_id: JobId }), ...errors },
    },
  }, async (req) => {
    const { snapshot, jobId } = await snapshots.delete(req.principal, req.params.id);
    return { status: true as const, message: "Snapshot is being deleted", snapshot: snapshotView(snapshot), job_id: jobId };
  });

  app.post("/v1/core/snapshots/:id/revert", {
    schema: {
      tags, params: IdParams, summary: "Orbit: revert a virtual machine to one of its snapshots",
      description: "The VM's disks go back to the snapshot (a job). After a memory snapshot the VM runs from where it was; after one without memory it is Stopped "
        + "(a running VM's snapshot without memory gives its disks as they were at that instant). The snapshot must be Ready and its VM Running or Stopped (409); "
        + "409 while a snapshot operation of the VM is in progress. Hyperstack's POST /v1/core/snapshots/{id}/restore (a new VM from a snapshot) is not offered.",
      response: { 200: ok({ snapshot: SnapshotView, job_id: JobId }), ...errors },
    },
  }, async (req) => {
    const { snapshot, jobId } = await snapshots.revert(req.principal, req.params.id);
    return { status: true as const, message: "Virtual machine is being reverted to the snapshot", snapshot: snapshotView(snapshot), job_id: jobId };
  });
};
