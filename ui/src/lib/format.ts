// Formatting of money, counts, dates and durations for display (all as text, never HTML).

export function usd(v: unknown, digits = 4): string {
  const n = Number(v);
  if (v === null || v === undefined || v === "" || !Number.isFinite(n)) return "—";
  if (n !== 0 && Math.abs(n) < 0.0001) return "$" + n.toExponential(2);
  return "$" + n.toFixed(n >= 100 ? 2 : digits).replace(/(\.\d\d\d*?)0+$/, "$1");
}

export function count(v: unknown): string {
  const n = Number(v);
  if (v === null || v === undefined || v === "" || !Number.isFinite(n)) return "—";
  return n.toLocaleString("en-US");
}

export function text(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

export function list(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0) return "all";
  return v.join(", ");
}

export function when(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  const d = typeof v === "number" ? new Date(v < 1e12 ? v * 1000 : v) : new Date(String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

export function ms(v: unknown): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return "—";
  return n >= 1000 ? (n / 1000).toFixed(2) + " s" : n.toFixed(n < 10 ? 1 : 0) + " ms";
}

/// YYYY-MM-DD of a date in UTC.
export function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function daysAgo(n: number): string {
  return day(new Date(Date.now() - n * 86400_000));
}
