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
  // Package boundaries (issue 11): the allocator is pure (itself and #shared only), the agent and
  // shared code never reach into the manager. Tests may cross them; production code may not.
  {
    files: ["manager/src/allocator/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/placement/**", "**/db/**", "**/api/**", "**/agents/**", "**/jobs/**", "**/vm/**", "**/hosts/**", "**/settings/**", "**/security/**", "**/catalog/**", "**/dev/**", "**/agent/src/**"], message: "the allocator is pure: it imports only itself and #shared" },
        { group: ["drizzle-orm", "drizzle-orm/*", "pg", "@electric-sql/*", "@grpc/*", "fastify", "@fastify/*", "#gen/*", "execa", "pino"], message: "the allocator is pure: no database, RPC, HTTP, process or logging libraries" },
      ] }],
    },
  },
  {
    files: ["agent/src/**/*.ts", "shared/src/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/manager/src/**"], message: "agent and shared code never import the manager" },
      ] }],
    },
  },
  {
    files: ["shared/src/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["**/manager/src/**", "**/agent/src/**"], message: "shared code imports neither the manager nor the agent" },
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
