// Builds Orbit's programs for the tests (the list and where they go: orbit-programs.ts): each entry
// point bundled by esbuild into plain JavaScript, packages from node_modules left as imports.
// vitest's globalSetup builds them once into node_modules/.cache/orbit-programs/<hash of the
// sources>, reused while the sources are unchanged. Each source file keeps its own
// import.meta.url, so what it reads relative to itself (the migrations, package.json) is where it
// is in the checkout.
import { build, type Plugin } from "esbuild";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PROGRAM_SOURCES, ROOT } from "./orbit-programs.js";

/** Folders whose TypeScript the programs are built from: a change in any of them is a rebuild. */
const SOURCE_DIRS = ["shared", "manager/src", "agent/src", "dev", "test/libvirt", "test/support", "bench"];
const CACHE = path.join(ROOT, "node_modules/.cache/orbit-programs");

/** Packages from node_modules load at run time as they are; Orbit's own workspaces are bundled. */
const externalPackages: Plugin = {
  name: "external-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./#]/ }, (args) => (args.path.startsWith("@orbit/") ? undefined : { path: args.path, external: true }));
  },
};

/** `import.meta.url` in each source file is that file's own URL, not the bundle's. */
const ownImportMetaUrl: Plugin = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      // Not inside a string that names it.
      return { contents: source.replace(/(?<!["'`])\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href)), loader: "ts" };
    });
  },
};

/** Bundles every program into `outDir` (`<name>.mjs` each); a failure throws with esbuild's messages. */
export async function buildPrograms(outDir: string): Promise<void> {
  await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(PROGRAM_SOURCES).map(([name, src]) => [name, path.join(ROOT, src)])),
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Stack traces name the TypeScript sources (children run with --enable-source-maps).
    sourcemap: "linked",
    logLevel: "silent",
    plugins: [externalPackages, ownImportMetaUrl],
  });
}

function sourceFiles(dir: string, out: string[]): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules") continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

/** A hash of every source the programs may be built from (names and contents) and of the build settings. */
function sourcesHash(): string {
  const h = createHash("sha256");
  h.update(readFileSync(fileURLToPath(import.meta.url))).update(readFileSync(path.join(ROOT, "test/support/orbit-programs.ts")));
  for (const f of SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(ROOT, d), [])).sort()) {
    h.update(f).update("\0").update(readFileSync(f)).update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * The folder holding the compiled programs of the current sources, built when absent. Concurrent
 * runs may both build: each into its own folder, the first rename wins. Older builds are removed.
 */
export async function ensurePrograms(): Promise<string> {
  const hash = sourcesHash();
  const dir = path.join(CACHE, hash);
  if (existsSync(path.join(dir, "orbit-manager.mjs"))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const tmp = path.join(CACHE, `${hash}.building-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await buildPrograms(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`building Orbit's programs for the tests failed (test/support/orbit-programs.ts): ${(e as Error).message}`, { cause: e });
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // Another run renamed its build first: the same sources, so the same programs.
    rmSync(tmp, { recursive: true, force: true });
  }
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const old of readdirSync(CACHE)) {
    const p = path.join(CACHE, old);
    if (old !== hash && statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
  }
  return dir;
}
