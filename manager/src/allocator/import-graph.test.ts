// The allocator's module layering (README "Layout"): no import cycle, and no filter or scorer
// reaches another plugin, the registry or the policy, directly or through a shared module.
// Type-only imports count: a cycle through types still ties the files together.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = dirname(fileURLToPath(import.meta.url));

/** Allocator source files (tests excluded: nothing imports them), relative to the allocator. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

/** file → the allocator files it imports (relative specifiers only; `#shared` is outside). */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(root, resolve(root, dirname(file), spec.replace(/\.js$/, ".ts"))));
    for (const t of targets) {
      if (!t.startsWith("..") && !known.has(t)) throw new Error(`${file} imports ${t}, which does not exist`);
    }
    graph.set(file, [...new Set(targets.filter((t) => known.has(t)))]);
  }
  return graph;
}

/** One cycle per back edge of a depth-first walk, as "a.ts → b.ts → a.ts". */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string): void => {
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) found.push([...path.slice(at), next].join(" → "));
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) if (!done.has(file)) visit(file);
  return found;
}

function reachable(graph: Map<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(graph.get(from) ?? [])];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(graph.get(f) ?? []));
  }
  return seen;
}

const isPlugin = (f: string): boolean => /^(filters|scorers)\//.test(f);

describe("allocator import graph", () => {
  const graph = importGraph();

  it("sees the allocator's files and their imports", () => {
    expect(graph.get("registry.ts")).toContain("filters/gpu-model.filter.ts");
    expect(graph.get("types.ts")).toBeDefined();
  });

  it("keeps types.ts, the data contract, a leaf", () => {
    expect(graph.get("types.ts")).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("keeps each filter and scorer apart from the other plugins, the registry and the policy", () => {
    const crossings = [...graph.keys()].filter(isPlugin).flatMap((plugin) =>
      [...reachable(graph, plugin)]
        .filter((f) => isPlugin(f) || f === "registry.ts" || f === "policy.ts")
        .map((f) => `${plugin} reaches ${f}`),
    );
    expect(crossings).toEqual([]);
  });
});
