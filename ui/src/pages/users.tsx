// Internal users (LiteLLM's): list with server paging, create (optionally with a first key),
// edit role, models and limits, delete.
import { api } from "../lib/api";
import { list, text, usd } from "../lib/format";
import { CrudPage, LIMIT_FIELDS, type CrudSpec, type Row } from "./crud";

const ROLES: [string, string][] = [
  ["internal_user", "Internal user"],
  ["internal_user_viewer", "Internal user (viewer)"],
  ["proxy_admin", "Proxy admin"],
  ["proxy_admin_viewer", "Proxy admin (viewer)"],
];

interface UserList {
  users: Row[];
  total: number;
  total_pages: number;
}

const users: CrudSpec = {
  title: "Users",
  noun: "user",
  load: async (page) => {
    const r = await api.get<UserList>("/user/list", { page, page_size: 50 });
    return { rows: r.users, pages: r.total_pages, total: r.total };
  },
  id: (r) => String(r.user_id),
  name: (r) => String(r.user_email ?? r.user_alias ?? r.user_id),
  columns: [
    { label: "User ID", cell: (r) => <code>{text(r.user_id)}</code> },
    { label: "Email", cell: (r) => text(r.user_email) },
    { label: "Role", cell: (r) => text(r.user_role) },
    { label: "Models", cell: (r) => list(r.models) },
    { label: "Spend / budget", num: true, cell: (r) => `${usd(r.spend)} / ${r.max_budget == null ? "∞" : usd(r.max_budget)}` },
    { label: "Teams", cell: (r) => (Array.isArray(r.teams) && r.teams.length ? r.teams.join(", ") : "—") },
    { label: "Keys", num: true, cell: (r) => text(r.key_count) },
  ],
  fields: [
    { name: "user_id", label: "User ID", kind: "text", createOnly: true, hint: "Empty = generated" },
    { name: "user_email", label: "Email", kind: "text" },
    { name: "user_alias", label: "Alias", kind: "text" },
    { name: "user_role", label: "Role", kind: "role", options: ROLES },
    { name: "models", label: "Models", kind: "list", hint: "Comma separated; empty = all" },
    ...LIMIT_FIELDS,
    { name: "metadata", label: "Metadata (JSON)", kind: "json" },
  ],
  create: (b) => api.post("/user/new", { user_role: "internal_user", ...b, auto_create_key: false }),
  update: (r, b) => api.post("/user/update", { ...b, user_id: r.user_id }),
  remove: (r) => api.post("/user/delete", { user_ids: [r.user_id] }),
};

export const UsersPage = () => <CrudPage spec={users} />;
