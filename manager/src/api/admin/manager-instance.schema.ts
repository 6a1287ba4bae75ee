// A manager instance as GET /v1/admin/managers answers it (cluster/manager-instances.ts).
import { Type } from "@sinclair/typebox";

export const ManagerInstance = Type.Object({
  id: Type.String({ description: "The instance's id (made at its start): lease owner of its jobs, holder of its duties" }),
  hostname: Type.String(),
  pid: Type.Integer(),
  version: Type.String(),
  started_at: Type.String({ format: "date-time" }),
  last_seen: Type.String({ format: "date-time", description: "Its last heartbeat (every few seconds while it runs)" }),
  stopped_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "Set by a graceful stop; a killed instance just stops being seen" }),
  alive: Type.Boolean({ description: "Heard from within three heartbeats and not stopped" }),
  self: Type.Boolean({ description: "The instance that answered this request" }),
  duties: Type.Array(Type.String(), { description: "The singleton duties it runs now (their leases it holds)" }),
  jobs_leased: Type.Integer({ description: "Open jobs whose lease it holds now" }),
}, { additionalProperties: false });
