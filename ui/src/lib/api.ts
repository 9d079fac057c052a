// The one way the UI talks to the gateway: same-origin fetch with the session cookie (HttpOnly,
// never visible here), the CSRF token on every state-changing request, JSON in and out, and
// the gateway's OpenAI-shaped errors turned into readable messages.

export type Role = "admin" | "key";

export interface Session {
  role: Role;
  csrf_token: string;
  expires_at?: string | null;
  expires_at_ms?: number | null;
  /// The key behind a virtual-key session (null for an admin).
  key?: SessionKey | null;
}

export interface SessionKey {
  token: string;
  key_alias?: string | null;
  key_name?: string | null;
  team_id?: string | null;
  user_id?: string | null;
  max_budget?: number | null;
  spend?: number | null;
  expires?: string | null;
}

let csrf = "";
let onUnauthorized: () => void = () => {};

export function setSession(s: Session | null) {
  csrf = s?.csrf_token ?? "";
}

export function whenUnauthorized(f: () => void) {
  onUnauthorized = f;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, q?: Query): string {
  if (!q) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

async function request<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
  const headers: Record<string, string> = { accept: raw ? "*/*" : "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["x-csrf-token"] = csrf;
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, `The gateway did not answer (${String(e)})`);
  }
  if (r.status === 401 && !path.startsWith("/ui/login")) onUnauthorized();
  const text = await r.text();
  if (!r.ok) throw new ApiError(r.status, errorMessage(r.status, text));
  if (raw) return text as unknown as T;
  if (!text) return undefined as unknown as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(r.status, `Not JSON from ${path}`);
  }
}

/// The message of `{"error": {"message": …}}` (OpenAI's shape), `{"detail": …}` or the text.
export function errorMessage(status: number, text: string): string {
  try {
    const v = JSON.parse(text);
    const m = v?.error?.message ?? v?.detail?.error ?? v?.detail ?? v?.message;
    if (m) return `${status}: ${typeof m === "string" ? m : JSON.stringify(m)}`;
  } catch {
    /* not JSON */
  }
  return `${status}: ${text.slice(0, 300) || "request failed"}`;
}

export const api = {
  get: <T>(path: string, q?: Query) => request<T>("GET", withQuery(path, q)),
  text: (path: string, q?: Query) => request<string>("GET", withQuery(path, q), undefined, true),
  post: <T>(path: string, body: unknown = {}) => request<T>("POST", path, body),
};
