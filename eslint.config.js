import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "shared/gen/**", "coverage/**", ".orbit-data/**", "drizzle/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", Buffer: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  // Package boundaries (issue 11). The workspaces (shared, agent, manager) import only what their
  // package.json lists: the manager never the agent (dev/, owned by the root, joins the two), the
  // agent never the manager, shared neither; their tests too (tests joining both live in test/).
  // The allocator is pure (itself and #shared only); its block comes after the manager's because a
  // later block's no-restricted-imports replaces an earlier one's, so it repeats the agent ban.
  {
    files: ["manager/**/*.{ts,js}"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/agent/src/**", "**/agent/bin/**", "@orbit/agent", "@orbit/agent/**", "**/dev/**"], message: "the manager workspace never imports the agent (nor dev/, which joins the two)" },
      ] }],
    },
  },
  {
    files: ["manager/src/allocator/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/placement/**", "**/db/**", "**/api/**", "**/agents/**", "**/jobs/**", "**/vm/**", "**/hosts/**", "**/settings/**", "**/security/**", "**/catalog/**", "**/dev/**", "**/agent/src/**", "@orbit/agent", "@orbit/agent/**"], message: "the allocator is pure: it imports only itself and #shared" },
        { group: ["drizzle-orm", "drizzle-orm/*", "pg", "@electric-sql/*", "@grpc/*", "fastify", "@fastify/*", "#gen/*", "execa", "pino"], message: "the allocator is pure: no database, RPC, HTTP, process or logging libraries" },
      ] }],
    },
  },
  {
    files: ["agent/**/*.{ts,js}"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/manager/src/**", "**/manager/bin/**", "@orbit/manager", "@orbit/manager/**", "**/dev/**"], message: "the agent workspace never imports the manager (nor dev/, which does)" },
      ] }],
    },
  },
  {
    files: ["shared/**/*.{ts,js}"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/manager/src/**", "**/agent/src/**", "@orbit/manager", "@orbit/manager/**", "@orbit/agent", "@orbit/agent/**", "**/dev/**"], message: "the shared workspace imports neither the manager nor the agent" },
      ] }],
    },
  },
  {
    // The API dialects present what services return: no database, no drizzle (issue 11 item 1).
    files: ["manager/src/api/hyperstack/**/*.ts", "manager/src/api/admin/**/*.ts", "manager/src/api/*.{presenter,schema}.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/db/**", "drizzle-orm", "drizzle-orm/*"], message: "routes and presenters never import the database: ask a service" },
      ] }],
    },
  },
  {
    // The CLI is a pure HTTP client of the API: none of the servers' code, nor #shared.
    files: ["cli/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/manager/**", "**/agent/**", "**/shared/**", "#shared/*", "#gen/*", "@orbit/manager", "@orbit/agent", "@orbit/shared", "@orbit/shared/*"], message: "the CLI only talks HTTP to the API" },
      ] }],
    },
  },
  {
    // Tests poke at JSON bodies and private corners on purpose.
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
