import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./manager/src/db/schema.ts",
  out: "./manager/drizzle",
});
