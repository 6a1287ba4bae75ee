// VMs' and volumes' callback URLs (Hyperstack's attach/update/delete-callback), the log of
// their deliveries, and the account's signing secret (README, Event callbacks).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { CallbackSecretService } from "../../callbacks/callback-secrets.js";
import type { CallbackUrlService } from "../../callbacks/callback-url-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { VolumeIdParams } from "./volume.schema.js";
import { callbackDeliveryView, signingSecretView } from "./vm-event.presenter.js";
import { CallbackDeliveriesResponse, CallbackUrlBody, CallbackUrlResponse, SigningSecretResponse } from "./vm-event.schema.js";

export const callbackRoutes = (callbacks: CallbackUrlService, volumeCallbacks: CallbackUrlService, secrets: CallbackSecretService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ["callbacks"];

  app.post("/v1/core/virtual-machines/:id/attach-callback", {
    schema: {
      tags, summary: "Attach a callback URL to a virtual machine",
      description: "Every later event of the VM is POSTed to it, signed. 409 when the VM already has another URL (use update-callback).",
      params: IdParams, body: CallbackUrlBody, response: { 200: CallbackUrlResponse, ...errors },
    },
  }, async (req) => {
    const url = await callbacks.attach(req.principal, req.params.id, req.body.url);
    return { status: true as const, message: "Callback URL attached", url };
  });

  app.put("/v1/core/virtual-machines/:id/update-callback", {
    schema: {
      tags, summary: "Change a virtual machine's callback URL",
      description: "Callbacks not delivered yet go to the new URL. 409 when the VM has no callback URL (use attach-callback).",
      params: IdParams, body: CallbackUrlBody, response: { 200: CallbackUrlResponse, ...errors },
    },
  }, async (req) => {
    const url = await callbacks.update(req.principal, req.params.id, req.body.url);
    return { status: true as const, message: "Callback URL updated", url };
  });

  app.delete("/v1/core/virtual-machines/:id/delete-callback", {
    schema: {
      tags, summary: "Remove a virtual machine's callback URL",
      description: "Callbacks not delivered yet are cancelled. 404 when the VM has no callback URL.",
      params: IdParams, response: { 200: ok({}), ...errors },
    },
  }, async (req) => {
    await callbacks.remove(req.principal, req.params.id);
    return { status: true as const, message: "Callback URL deleted" };
  });

  app.get("/v1/core/virtual-machines/:id/callback-deliveries", {
    schema: {
      tags, summary: "List a virtual machine's callback deliveries",
      description: "Newest first (at most 200), each with every attempt: when, to where, the status code or the error.",
      params: IdParams, response: { 200: CallbackDeliveriesResponse, ...errors },
    },
  }, async (req) => {
    const deliveries = await callbacks.deliveries(req.principal, req.params.id);
    return { status: true as const, message: "Getting callback deliveries success", deliveries: deliveries.map(callbackDeliveryView) };
  });

  app.post("/v1/core/volumes/:volume_id/attach-callback", {
    schema: {
      tags, summary: "Attach a callback URL to a volume",
      description: "The volume's later events (each status change: attaching, in-use, detaching, available...; its deletion) are POSTed to it, signed. 409 when the volume already has another URL (use update-callback).",
      params: VolumeIdParams, body: CallbackUrlBody, response: { 200: CallbackUrlResponse, ...errors },
    },
  }, async (req) => {
    const url = await volumeCallbacks.attach(req.principal, req.params.volume_id, req.body.url);
    return { status: true as const, message: "Callback URL attached", url };
  });

  app.put("/v1/core/volumes/:volume_id/update-callback", {
    schema: {
      tags, summary: "Change a volume's callback URL",
      description: "Callbacks not delivered yet go to the new URL. 409 when the volume has no callback URL (use attach-callback).",
      params: VolumeIdParams, body: CallbackUrlBody, response: { 200: CallbackUrlResponse, ...errors },
    },
  }, async (req) => {
    const url = await volumeCallbacks.update(req.principal, req.params.volume_id, req.body.url);
    return { status: true as const, message: "Callback URL updated", url };
  });

  app.delete("/v1/core/volumes/:volume_id/delete-callback", {
    schema: {
      tags, summary: "Remove a volume's callback URL",
      description: "Callbacks not delivered yet are cancelled. 404 when the volume has no callback URL.",
      params: VolumeIdParams, response: { 200: ok({}), ...errors },
    },
  }, async (req) => {
    await volumeCallbacks.remove(req.principal, req.params.volume_id);
    return { status: true as const, message: "Callback URL deleted" };
  });

  app.get("/v1/core/volumes/:volume_id/callback-deliveries", {
    schema: {
      tags, summary: "List a volume's callback deliveries",
      description: "Newest first (at most 200), each with every attempt: when, to where, the status code or the error.",
      params: VolumeIdParams, response: { 200: CallbackDeliveriesResponse, ...errors },
    },
  }, async (req) => {
    const deliveries = await volumeCallbacks.deliveries(req.principal, req.params.volume_id);
    return { status: true as const, message: "Getting callback deliveries success", deliveries: deliveries.map(callbackDeliveryView) };
  });

  app.get("/v1/core/callbacks/signing-secret", {
    schema: {
      tags, summary: "Get your account's callback signing secret",
      response: { 200: SigningSecretResponse, ...errors },
    },
  }, async (req) => {
    const s = await secrets.get(req.principal.accountId);
    return { status: true as const, message: "Getting signing secret success", signing_secret: signingSecretView(s) };
  });

  app.post("/v1/core/callbacks/signing-secret/rotate", {
    schema: {
      tags, summary: "Rotate your account's callback signing secret",
      description: "Callbacks are signed with the new secret, and with the previous one too until previous_valid_until (setting callbacks.secret.rotation.grace.ms).",
      response: { 200: SigningSecretResponse, ...errors },
    },
  }, async (req) => {
    const s = await secrets.rotate(req.principal.accountId);
    return { status: true as const, message: "Signing secret rotated", signing_secret: signingSecretView(s) };
  });
};
