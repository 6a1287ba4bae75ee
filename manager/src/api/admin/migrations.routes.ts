// Admin migration of VMs between hosts (migration/migration-service.ts): candidate hosts with the
// reasons the others cannot take the VM, start (host or auto), cancel, and the migrations' records
// with their progress. Cancel is a POST on .../migrate/cancel (an action on the running migration,
// answered with its ids; the migration itself stays readable).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { InvalidArgumentError } from "#shared/errors.js";
import type { MigrationService } from "../../migration/migration-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { migrationHostsView, migrationView } from "./migration.presenter.js";
import { MigrateBody, MigrationHostsView, MigrationMode, MigrationStartedView, MigrationView } from "./migration.schema.js";

export const migrationRoutes = (migrations: MigrationService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/virtual-machines/:id/migration-hosts", {
    schema: {
      tags: ["admin"], summary: "Hosts a VM could migrate to, and for the others why not (allocator filters and migration's rules)",
      params: IdParams,
      querystring: Type.Object({
        mode: Type.Optional(MigrationMode),
        storage_motion: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false }),
      response: { 200: ok({ migration_hosts: MigrationHostsView }), ...errors },
    },
  }, async (req) => {
    const h = await migrations.findHosts(req.params.id, {
      ...(req.query.mode ? { mode: req.query.mode } : {}), ...(req.query.storage_motion !== undefined ? { storageMotion: req.query.storage_motion } : {}),
    });
    return { status: true as const, message: `${h.hosts.filter((x) => x.suitable).length} suitable host(s)`, migration_hosts: migrationHostsView(h) };
  });

  app.post("/v1/admin/virtual-machines/:id/migrate", {
    schema: {
      tags: ["admin"], summary: "Migrate a VM to a host (host_id) or one the allocator chooses (host: \"auto\"); answers with its job",
      params: IdParams, body: MigrateBody,
      response: { 200: ok({ migration: MigrationStartedView }), ...errors },
    },
  }, async (req) => {
    const b = req.body;
    if ((b.host_id === undefined) === (b.host === undefined)) throw new InvalidArgumentError("host_id", "give host_id or host: \"auto\", not both or neither");
    const started = await migrations.migrate({ userId: req.principal.userId ?? null }, req.params.id, {
      target: b.host_id ?? "auto",
      ...(b.mode ? { mode: b.mode } : {}),
      ...(b.storage_motion !== undefined ? { storageMotion: b.storage_motion } : {}),
      ...(b.allow_cold !== undefined ? { allowCold: b.allow_cold } : {}),
    });
    return {
      status: true as const, message: "Migration started",
      migration: { job_id: started.jobId, migration_id: started.migrationId, destination_host_id: started.destinationHostId },
    };
  });

  app.post("/v1/admin/virtual-machines/:id/migrate/cancel", {
    schema: {
      tags: ["admin"], summary: "Cancel a VM's running migration: it stays on (or runs again on) its source",
      params: IdParams,
      response: { 200: ok({ migration: Type.Object({ migration_id: Type.Integer(), job_id: Type.Integer() }) }), ...errors },
    },
  }, async (req) => {
    const c = await migrations.cancel(req.params.id);
    return { status: true as const, message: "Migration cancel requested", migration: { migration_id: c.migrationId, job_id: c.jobId } };
  });

  app.get("/v1/admin/virtual-machines/:id/migrations", {
    schema: {
      tags: ["admin"], summary: "A VM's migrations, newest first, with the running one's progress",
      params: IdParams, response: { 200: ok({ migrations: Type.Array(MigrationView) }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Getting migrations success", migrations: (await migrations.migrationsOf(req.params.id)).map(migrationView),
  }));

  app.get("/v1/admin/migrations/:id", {
    schema: {
      tags: ["admin"], summary: "One migration: hosts, reservation, progress (data processed / remaining, dirty rate, expected downtime), outcome",
      params: IdParams, response: { 200: ok({ migration: MigrationView }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Getting migration success", migration: migrationView(await migrations.get(req.params.id)) }));
};
