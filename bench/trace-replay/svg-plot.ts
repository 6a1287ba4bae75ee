// A dependency-free SVG line chart: one panel per trace, unallocated GPU % against arrived %,
// one polyline per policy, the paper's published points as markers.

export interface Series {
  label: string;
  color: string;
  /** [x, y] points; drawn as a polyline. */
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  /** Draw markers only (published points). */
  markersOnly?: boolean;
}

export interface Panel {
  title: string;
  series: readonly Series[];
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function renderPanels(panels: readonly Panel[], opts: { xMax: number; yMax: number; title: string }): string {
  const pw = 420;
  const ph = 300;
  const ml = 50;
  const mt = 40;
  const gap = 30;
  const legendH = 18 * Math.max(...panels.map((p) => p.series.length)) + 10;
  const width = ml + panels.length * (pw + gap);
  const height = mt + ph + 50 + legendH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`);
  panels.forEach((panel, k) => {
    const x0 = ml + k * (pw + gap);
    const sx = (x: number): number => x0 + (x / opts.xMax) * pw;
    const sy = (y: number): number => mt + ph - (Math.min(y, opts.yMax) / opts.yMax) * ph;
    out.push(`<text x="${x0 + pw / 2}" y="${mt - 8}" text-anchor="middle" font-size="12">${esc(panel.title)}</text>`);
    for (let x = 0; x <= opts.xMax; x += 10) {
      out.push(`<line x1="${sx(x)}" y1="${mt}" x2="${sx(x)}" y2="${mt + ph}" stroke="#eee"/>`);
      out.push(`<text x="${sx(x)}" y="${mt + ph + 14}" text-anchor="middle">${x}</text>`);
    }
    for (let y = 0; y <= opts.yMax; y += 10) {
      out.push(`<line x1="${x0}" y1="${sy(y)}" x2="${x0 + pw}" y2="${sy(y)}" stroke="#eee"/>`);
      out.push(`<text x="${x0 - 4}" y="${sy(y) + 4}" text-anchor="end">${y}</text>`);
    }
    out.push(`<rect x="${x0}" y="${mt}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    out.push(`<text x="${x0 + pw / 2}" y="${mt + ph + 30}" text-anchor="middle">arrived GPU request (% of capacity)</text>`);
    if (k === 0) out.push(`<text transform="translate(14 ${mt + ph / 2}) rotate(-90)" text-anchor="middle">unallocated GPU %</text>`);
    for (const s of panel.series) {
      if (s.markersOnly) {
        for (const [x, y] of s.points) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="none" stroke="${s.color}"/>`);
        continue;
      }
      const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5,3"' : ""} points="${pts}"/>`);
    }
    panel.series.forEach((s, i) => {
      const ly = mt + ph + 48 + i * 18;
      if (s.markersOnly) out.push(`<circle cx="${x0 + 12}" cy="${ly - 4}" r="3" fill="none" stroke="${s.color}"/>`);
      else out.push(`<line x1="${x0}" y1="${ly - 4}" x2="${x0 + 24}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ""}/>`);
      out.push(`<text x="${x0 + 30}" y="${ly}">${esc(s.label)}</text>`);
    });
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
