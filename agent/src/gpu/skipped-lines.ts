// Warnings for the lines a parser skipped: the first few with an excerpt, then a count, so a
// flood of garbage cannot flood the host's facts.
const SHOWN = 5;
const EXCERPT = 120;

export function lineExcerpt(line: string): string {
  const t = line.trim();
  return t.length > EXCERPT ? `${t.slice(0, EXCERPT)}... (${t.length} characters)` : t;
}

export function skippedLinesWarnings(source: string, lines: string[]): string[] {
  const out = lines.slice(0, SHOWN).map((l) => `${source}: line not understood, skipped: ${lineExcerpt(l)}`);
  if (lines.length > SHOWN) out.push(`${source}: ${lines.length - SHOWN} more line(s) not understood, skipped`);
  return out;
}

/** The first few of `warnings`, then how many more there were. */
export function firstFewWarnings(source: string, warnings: string[], what: string): string[] {
  if (warnings.length <= SHOWN) return warnings;
  return [...warnings.slice(0, SHOWN), `${source}: ${warnings.length - SHOWN} more ${what}`];
}
