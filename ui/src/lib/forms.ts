// Turning form text into API values: numbers, lists and JSON objects, with a message naming
// the field when the text does not parse.

export class FormError extends Error {}

export function num(label: string, v: string): number | null {
  const t = v.trim();
  if (!t) return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) throw new FormError(`${label}: "${t}" is not a number ≥ 0`);
  return n;
}

export function int(label: string, v: string): number | null {
  const n = num(label, v);
  if (n !== null && !Number.isInteger(n)) throw new FormError(`${label}: "${v.trim()}" is not a whole number`);
  return n;
}

export function items(v: string): string[] {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function object(label: string, v: string): Record<string, unknown> | null {
  const t = v.trim();
  if (!t) return null;
  let o: unknown;
  try {
    o = JSON.parse(t);
  } catch {
    throw new FormError(`${label}: not valid JSON`);
  }
  if (!o || typeof o !== "object" || Array.isArray(o)) throw new FormError(`${label}: must be a JSON object`);
  return o as Record<string, unknown>;
}

/// A form value back to text for editing.
export function str(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return Object.keys(v as object).length ? JSON.stringify(v, null, 2) : "";
  return String(v);
}

/// Drops null fields (for create: "not set" means the server default).
export function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0)));
}
