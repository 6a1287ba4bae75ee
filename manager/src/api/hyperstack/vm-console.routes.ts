// Interactive serial console (CloudSigma's open_console/close_console, an Orbit extra): open
// answers a one-time WebSocket URL (GET /v1/console/{token}, console-socket.routes.ts), close
// ends every session of the VM.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { errors, IdParams } from "../schemas.js";
import type { VmService } from "../../vm/vm-service.js";
import type { VmConsoles } from "../../console/vm-consoles.js";
import { CloseConsoleResponse, OpenConsoleResponse } from "./vm-console.schema.js";

export interface VmConsoleRoutesDeps {
  /** The VM as the caller may see it (another account's VM is a 404). */
  vms: Pick<VmService, "get">;
  consoles: Pick<VmConsoles, "open" | "close">;
  /** The manager's public URL when configured (ORBIT_PUBLIC_URL); else the request's own host. */
  publicUrl?: string | undefined;
}

/** Where the client reached us, as a WebSocket base URL. */
function socketBase(req: FastifyRequest, publicUrl: string | undefined): string {
  const base = publicUrl ? new URL(publicUrl) : new URL(`${req.protocol}://${req.host}`);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  return base.toString().replace(/\/$/, "");
}

export const vmConsoleRoutes = (d: VmConsoleRoutesDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines/:id/open-console", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Open a virtual machine's serial console",
      description: "Answers a one-time WebSocket URL to the running VM's serial console (bytes both ways), valid for "
        + "console.token.ttl.seconds (default 60 s). Orbit extra (CloudSigma's open_console).",
      params: IdParams,
      response: { 200: OpenConsoleResponse, ...errors },
    },
  }, async (req) => {
    const vm = await d.vms.get(req.principal, req.params.id);
    const t = await d.consoles.open(vm);
    return {
      status: true as const, message: "Console opened: connect to the URL before it expires",
      console: { url: `${socketBase(req, d.publicUrl)}/v1/console/${t.token}`, expires_at: t.expiresAt.toISOString() },
    };
  });

  app.post("/v1/core/virtual-machines/:id/close-console", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Close a virtual machine's serial console",
      description: "Ends every console connection of the VM and refuses its unused console URLs. Orbit extra (CloudSigma's close_console).",
      params: IdParams,
      response: { 200: CloseConsoleResponse, ...errors },
    },
  }, async (req) => {
    const vm = await d.vms.get(req.principal, req.params.id);
    const closed = await d.consoles.close(vm);
    return { status: true as const, message: "Console closed", closed_sessions: closed };
  });
};
