// SSH key pairs of the caller's account: Hyperstack's /v1/core/keypairs and /v1/core/keypair/{id},
// plus generate (CloudStack's createSSHKeyPair) and get.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { KeyPairService } from "../../keypairs/keypair-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { generatedKeypairView, keypairView } from "./keypair.presenter.js";
import { GeneratedKeypairView, GenerateKeypairBody, ImportKeypairBody, KeypairView, ListKeypairsQuery, RenameKeypairBody } from "./keypair.schema.js";

const tags = ["keypair"];

export const keypairRoutes = (keypairs: KeyPairService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/keypairs", {
    schema: {
      tags, summary: "List key pairs", querystring: ListKeypairsQuery,
      response: { 200: ok({ keypairs: Type.Array(KeypairView), count: Type.Integer({ description: "Key pairs matching, on all pages" }), page: Type.Integer(), page_size: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { keyPairs, total } = await keypairs.list(req.principal, { page, pageSize, search: req.query.search });
    return { status: true as const, message: "Getting key pairs success", keypairs: keyPairs.map(keypairView), count: total, page, page_size: pageSize };
  });

  app.post("/v1/core/keypairs", {
    schema: {
      tags, summary: "Import a key pair", description: "Stores a validated OpenSSH public key and its fingerprints.",
      body: ImportKeypairBody, response: { 200: ok({ keypair: KeypairView }), ...errors },
    },
  }, async (req) => {
    const { environment_name: environmentName, name, public_key: publicKey } = req.body;
    const kp = await keypairs.importKeyPair(req.principal, { environmentName, name, publicKey });
    return { status: true as const, message: "Key pair imported", keypair: keypairView(kp) };
  });

  app.post("/v1/core/keypairs/generate", {
    // A replayed answer would have to be stored, private key included.
    config: { idempotency: false },
    schema: {
      tags, summary: "Generate a key pair",
      description: "Orbit extra (CloudStack's createSSHKeyPair): generates a key pair, stores its public key and returns the private key this once.",
      body: GenerateKeypairBody, response: { 200: ok({ keypair: GeneratedKeypairView }), ...errors },
    },
  }, async (req) => {
    const { environment_name: environmentName, name, key_type: keyType } = req.body;
    const { keyPair, privateKey } = await keypairs.generate(req.principal, { environmentName, name, keyType });
    return { status: true as const, message: "Key pair generated: save the private key, it is not shown again", keypair: generatedKeypairView(keyPair, privateKey) };
  });

  app.get("/v1/core/keypair/:id", {
    schema: { tags, summary: "Get a key pair", params: IdParams, response: { 200: ok({ keypair: KeypairView }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting key pair success", keypair: keypairView(await keypairs.get(req.principal, req.params.id)) }));

  app.put("/v1/core/keypair/:id", {
    schema: { tags, summary: "Rename a key pair", params: IdParams, body: RenameKeypairBody, response: { 200: ok({ keypair: KeypairView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Key pair renamed", keypair: keypairView(await keypairs.rename(req.principal, req.params.id, req.body.name)),
  }));

  app.delete("/v1/core/keypair/:id", {
    schema: { tags, summary: "Delete a key pair", params: IdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await keypairs.delete(req.principal, req.params.id);
    return { status: true as const, message: "Key pair deleted" };
  });
};
