// Hand-made SVG charts (no chart library, nothing inline that the CSP would refuse): daily bars
// and a cumulative line with optional soft and hard budget lines. Each chart has a text
// summary for screen readers and a <title> per bar for the exact value.

export interface Point {
  label: string;
  value: number;
}

const W = 640;
const H = 200;
const PAD = { l: 56, r: 12, t: 12, b: 28 };

function nice(max: number): number {
  if (max <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function Axes(p: { top: number; fmt: (v: number) => string; labels: string[] }) {
  const ticks = [0, 0.5, 1].map((f) => f * p.top);
  const iw = W - PAD.l - PAD.r;
  const step = Math.max(1, Math.ceil(p.labels.length / 8));
  return (
    <g class="axes">
      {ticks.map((t) => {
        const y = PAD.t + (H - PAD.t - PAD.b) * (1 - t / p.top);
        return (
          <g key={t}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y} y2={y} class="grid" />
            <text x={PAD.l - 6} y={y + 4} text-anchor="end">
              {p.fmt(t)}
            </text>
          </g>
        );
      })}
      {p.labels.map((l, i) =>
        i % step === 0 ? (
          <text key={l} x={PAD.l + (iw * (i + 0.5)) / p.labels.length} y={H - 8} text-anchor="middle">
            {l.length === 10 ? l.slice(5) : l}
          </text>
        ) : null,
      )}
    </g>
  );
}

export function Bars(p: { title: string; points: Point[]; fmt: (v: number) => string }) {
  const max = Math.max(0, ...p.points.map((x) => x.value));
  const top = nice(max);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = p.points.length ? iw / p.points.length : iw;
  const total = p.points.reduce((a, x) => a + x.value, 0);
  const summary = `${p.title}: ${p.points.length} days, total ${p.fmt(total)}, highest ${p.fmt(max)}`;
  return (
    <figure class="chart">
      <figcaption>{p.title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary}>
        <Axes top={top} fmt={p.fmt} labels={p.points.map((x) => x.label)} />
        {p.points.map((x, i) => {
          const h = (ih * x.value) / top;
          return (
            <rect key={x.label} class="bar" x={PAD.l + i * bw + bw * 0.15} width={Math.max(1, bw * 0.7)} y={PAD.t + ih - h} height={h}>
              <title>{`${x.label}: ${p.fmt(x.value)}`}</title>
            </rect>
          );
        })}
      </svg>
    </figure>
  );
}

/// Cumulative spend over the period with the budget lines: soft (alert) dashed, hard (refused) solid.
export function Cumulative(p: { title: string; points: Point[]; fmt: (v: number) => string; soft?: number | null; hard?: number | null }) {
  let run = 0;
  const cum = p.points.map((x) => ({ label: x.label, value: (run += x.value) }));
  const top = nice(Math.max(run, p.soft ?? 0, p.hard ?? 0));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const x = (i: number) => PAD.l + (iw * (i + 0.5)) / Math.max(1, cum.length);
  const y = (v: number) => PAD.t + ih * (1 - v / top);
  const path = cum.map((c, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(c.value).toFixed(1)}`).join(" ");
  const line = (v: number, cls: string, label: string) => (
    <g class={cls}>
      <line x1={PAD.l} x2={W - PAD.r} y1={y(v)} y2={y(v)} />
      <text x={W - PAD.r - 4} y={y(v) - 4} text-anchor="end">
        {`${label} ${p.fmt(v)}`}
      </text>
    </g>
  );
  const parts = [`${p.title}: ${p.fmt(run)} so far`];
  if (p.soft != null) parts.push(`soft budget ${p.fmt(p.soft)}`);
  if (p.hard != null) parts.push(`hard budget ${p.fmt(p.hard)}`);
  return (
    <figure class="chart">
      <figcaption>{p.title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={parts.join(", ")}>
        <Axes top={top} fmt={p.fmt} labels={cum.map((c) => c.label)} />
        {p.soft != null && line(p.soft, "budget soft", "soft budget")}
        {p.hard != null && line(p.hard, "budget hard", "budget")}
        <path d={path} class="line" />
        {cum.map((c, i) => (
          <circle key={c.label} cx={x(i)} cy={y(c.value)} r={3} class="dot">
            <title>{`${c.label}: ${p.fmt(c.value)}`}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

/// Every day from start to end (YYYY-MM-DD, UTC) with the value of `rows` or 0.
export function fillDays(start: string, end: string, rows: { group: string; value: number }[]): Point[] {
  const byDay = new Map(rows.map((r) => [r.group, r.value]));
  const out: Point[] = [];
  const d = new Date(start + "T00:00:00Z");
  const last = new Date(end + "T00:00:00Z");
  for (let n = 0; d <= last && n < 1000; n++) {
    const k = d.toISOString().slice(0, 10);
    out.push({ label: k, value: byDay.get(k) ?? 0 });
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}
