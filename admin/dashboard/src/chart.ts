/// <reference lib="dom" />
/** A line chart of the last 90 samples (0..1; null = no sample) on a canvas. */

function drawGrid(g: CanvasRenderingContext2D, w: number, hgt: number): void {
  g.strokeStyle = "#2a3440";
  g.lineWidth = 1;
  for (let i = 1; i < 4; i++) {
    const y = Math.round((hgt * i) / 4) + 0.5;
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(w, y);
    g.stroke();
  }
}

export function drawChart(
  canvas: HTMLCanvasElement,
  values: (number | null)[],
  color: string,
): void {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const hgt = canvas.clientHeight;
  if (!w || !hgt) return;
  canvas.width = w * dpr;
  canvas.height = hgt * dpr;
  const g = canvas.getContext("2d");
  if (!g) return;
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, hgt);
  drawGrid(g, w, hgt);
  const pts = values.filter((v) => v !== null);
  if (pts.length < 2) return;
  const step = w / 89;
  const x0 = w - (values.length - 1) * step;
  g.beginPath();
  values.forEach((v, i) => {
    if (v === null) return;
    const x = x0 + i * step;
    const y = hgt - Math.max(0, Math.min(1, v)) * (hgt - 4) - 2;
    if (i === 0 || values[i - 1] === null) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.stroke();
  g.lineTo(w, hgt);
  g.lineTo(x0, hgt);
  g.closePath();
  g.globalAlpha = 0.15;
  g.fillStyle = color;
  g.fill();
  g.globalAlpha = 1;
}
