// A small history router under /ui: the current path and query as a signal-like hook, and
// navigation that keeps deep links (/ui/keys?team_id=…) shareable and the back button working.
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

export interface Location {
  /// The path below /ui, starting with "/" ("/" for the dashboard).
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  let p = window.location.pathname;
  p = p.startsWith(BASE) ? p.slice(BASE.length) : p;
  if (!p.startsWith("/")) p = "/" + p;
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return { path: p, query: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((f) => f()));

export function navigate(to: string, replace = false) {
  const url = to.startsWith(BASE) ? to : BASE + (to.startsWith("/") ? to : "/" + to);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((f) => f());
  window.scrollTo(0, 0);
}

/// Replaces the query of the current page (filters and paging), without a new history entry.
export function setQuery(q: Record<string, string | number | undefined | null>) {
  const loc = current();
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  navigate(loc.path + (s ? "?" + s : ""), true);
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const f = () => setLoc(current());
    listeners.add(f);
    return () => {
      listeners.delete(f);
    };
  }, []);
  return loc;
}

/// An in-app link: a real <a href> (open in a new tab works) that navigates without a reload.
export function onLinkClick(e: MouseEvent) {
  const a = (e.target as HTMLElement).closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith(BASE) || a.target || a.hasAttribute("download")) return;
  e.preventDefault();
  navigate(href);
}
