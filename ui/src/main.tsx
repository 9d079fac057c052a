// The admin UI: the session (log in with the master key or a virtual key; the key never stays in
// the browser: the server keeps it and the browser holds an HttpOnly cookie), the navigation
// and one page per resource. Admins see everything; a virtual key sees its own usage and limits.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { api, setSession, whenUnauthorized, type Session } from "./lib/api";
import { navigate, onLinkClick, useLocation } from "./lib/router";
import { Field, Notice, type Submit } from "./lib/ui";
import { KeysPage } from "./pages/keys";
import { TeamsPage } from "./pages/teams";
import { UsersPage } from "./pages/users";
import { OrgsPage, CustomersPage, BudgetsPage } from "./pages/entities";
import { UsagePage } from "./pages/usage";
import { LogsPage } from "./pages/logs";
import { ModelsPage } from "./pages/models";
import { SettingsPage } from "./pages/settings";
import { SelfPage } from "./pages/self";

const ADMIN_PAGES: [string, string][] = [
  ["/usage", "Usage"],
  ["/keys", "Virtual keys"],
  ["/teams", "Teams"],
  ["/users", "Users"],
  ["/organizations", "Organizations"],
  ["/end-users", "End users"],
  ["/budgets", "Budgets"],
  ["/models", "Models"],
  ["/logs", "Logs"],
  ["/settings", "Settings"],
];
const KEY_PAGES: [string, string][] = [
  ["/", "My key"],
  ["/logs", "My requests"],
];

function Login(p: { onLogin: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Submit) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const s = await api.post<Session>("/ui/login", { key: key.trim() });
      setKey("");
      p.onLogin(s);
    } catch (err) {
      setError(String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form onSubmit={submit} class="card" aria-labelledby="login-title">
        <h1 id="login-title">Tollgate admin</h1>
        <p>Log in with the master key (administration) or a virtual key (that key's own usage and limits).</p>
        <Field label="Key" type="password" value={key} onInput={setKey} required name="key" hint="Sent once; the browser keeps only a session cookie." />
        {error && <Notice kind="error">{error}</Notice>}
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}

function Nav(p: { session: Session; path: string; onLogout: () => void }) {
  const pages = p.session.role === "admin" ? ADMIN_PAGES : KEY_PAGES;
  const [open, setOpen] = useState(false);
  const active = (to: string) => (to === "/" ? p.path === "/" : p.path === to || p.path.startsWith(to + "/"));
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <div class="brand">Tollgate</div>
      <button type="button" class="menu-toggle" aria-expanded={open} aria-controls="nav" onClick={() => setOpen(!open)}>
        Menu
      </button>
      <nav id="nav" class={open ? "open" : undefined} aria-label="Main" onClick={() => setOpen(false)}>
        <ul>
          {pages.map(([to, label]) => (
            <li key={to}>
              <a href={"/ui" + to} aria-current={active(to) ? "page" : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <div class="who">
        <span class="role">{p.session.role === "admin" ? "Admin" : `Key ${p.session.key?.key_alias ?? p.session.key?.key_name ?? ""}`.trim()}</span>
        <button type="button" onClick={p.onLogout}>
          Log out
        </button>
      </div>
    </header>
  );
}

function Page(p: { session: Session; path: string }) {
  const { path } = p;
  if (p.session.role !== "admin") {
    if (path.startsWith("/logs")) return <LogsPage self />;
    return <SelfPage session={p.session} />;
  }
  const seg = path.split("/")[1] ?? "";
  switch (seg) {
    case "":
    case "usage":
      return <UsagePage />;
    case "keys":
      return <KeysPage />;
    case "teams":
      return <TeamsPage />;
    case "users":
      return <UsersPage />;
    case "organizations":
      return <OrgsPage />;
    case "end-users":
      return <CustomersPage />;
    case "budgets":
      return <BudgetsPage />;
    case "models":
      return <ModelsPage />;
    case "logs":
      return <LogsPage />;
    case "settings":
      return <SettingsPage />;
    default:
      return (
        <Notice kind="error">
          No page at {path}. <a href="/ui/usage">Go to Usage</a>
        </Notice>
      );
  }
}

function App() {
  const [session, setS] = useState<Session | null | undefined>(undefined);
  const loc = useLocation();
  const apply = (s: Session | null) => {
    setSession(s);
    setS(s);
  };
  useEffect(() => {
    whenUnauthorized(() => apply(null));
    api.get<Session>("/ui/session").then(apply, () => apply(null));
  }, []);
  // An admin's home is Usage (one URL per page: the menu shows where you are).
  useEffect(() => {
    if (session?.role === "admin" && loc.path === "/") navigate("/usage", true);
  }, [session, loc.path]);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) return <Login onLogin={apply} />;
  const logout = async () => {
    try {
      await api.post("/ui/logout");
    } finally {
      apply(null);
      navigate("/", true);
    }
  };
  return (
    <div class="shell" onClick={onLinkClick}>
      <Nav session={session} path={loc.path} onLogout={logout} />
      <main id="main" tabIndex={-1}>
        <Page session={session} path={loc.path} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
