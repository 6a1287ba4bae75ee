// Tests: what a client receives when a route with this 200 response schema returns `body` (Fastify
// serializes with the schema and drops every field it does not name).
import Fastify from "fastify";
import type { TSchema } from "@sinclair/typebox";

export async function served(schema: TSchema, body: unknown): Promise<{ status: number; json: unknown }> {
  const app = Fastify();
  app.get("/", { schema: { response: { 200: schema } } }, async () => body);
  try {
    const res = await app.inject({ method: "GET", url: "/" });
    return { status: res.statusCode, json: res.json() };
  } finally {
    await app.close();
  }
}
