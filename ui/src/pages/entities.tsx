// Organizations, end users (customers) and reusable budgets: list, create, edit, delete, and
// block/unblock for end users, through LiteLLM's management routes.
import { api } from "../lib/api";
import { list, text, usd, when } from "../lib/format";
import { CrudPage, LIMIT_FIELDS, type CrudSpec, type Row } from "./crud";

/// Organizations and end users keep their limits in `litellm_budget_table`: shown flat.
function flat(r: Row): Row {
  const b = (r.litellm_budget_table ?? {}) as Row;
  const out: Row = { ...r };
  for (const f of LIMIT_FIELDS) if (out[f.name] === undefined) out[f.name] = b[f.name];
  return out;
}

const budgetCell = (r: Row) => `${usd(r.spend)} / ${r.max_budget == null ? "∞" : usd(r.max_budget)}`;

const orgs: CrudSpec = {
  title: "Organizations",
  noun: "organization",
  load: async () => (await api.get<Row[]>("/organization/list")).map(flat),
  id: (r) => String(r.organization_id),
  name: (r) => String(r.organization_alias ?? r.organization_id),
  columns: [
    { label: "Alias", cell: (r) => <span class="strong">{text(r.organization_alias)}</span> },
    { label: "ID", cell: (r) => <code>{text(r.organization_id)}</code> },
    { label: "Models", cell: (r) => list(r.models) },
    { label: "Spend / budget", num: true, cell: budgetCell },
    { label: "Teams", num: true, cell: (r) => (Array.isArray(r.teams) ? r.teams.length : "—") },
  ],
  fields: [
    { name: "organization_alias", label: "Alias", kind: "text" },
    { name: "organization_id", label: "ID", kind: "text", createOnly: true, hint: "Empty = generated" },
    { name: "models", label: "Models", kind: "list", hint: "Comma separated; empty = all" },
    ...LIMIT_FIELDS,
    { name: "budget_id", label: "Budget ID", kind: "text", hint: "A reusable budget instead of the limits above" },
    { name: "metadata", label: "Metadata (JSON)", kind: "json" },
  ],
  create: (b) => api.post("/organization/new", b),
  update: (r, b) => api.post("/organization/update", { ...b, organization_id: r.organization_id }),
  remove: (r) => api.post("/organization/delete", { organization_ids: [r.organization_id] }),
};

const customers: CrudSpec = {
  title: "End users",
  noun: "end user",
  load: async () => (await api.get<Row[]>("/customer/list")).map(flat),
  id: (r) => String(r.user_id),
  name: (r) => String(r.alias ?? r.user_id),
  columns: [
    { label: "End user ID", cell: (r) => <code>{text(r.user_id)}</code> },
    { label: "Alias", cell: (r) => text(r.alias) },
    { label: "Spend / budget", num: true, cell: budgetCell },
    { label: "Region", cell: (r) => text(r.allowed_model_region) },
    { label: "Status", cell: (r) => (r.blocked ? <span class="badge bad">blocked</span> : <span class="badge good">active</span>) },
  ],
  fields: [
    { name: "user_id", label: "End user ID", kind: "text", createOnly: true, hint: "The `user` field clients send" },
    { name: "alias", label: "Alias", kind: "text" },
    { name: "allowed_model_region", label: "Allowed region", kind: "text", placeholder: "eu" },
    ...LIMIT_FIELDS,
    { name: "budget_id", label: "Budget ID", kind: "text" },
  ],
  create: (b) => api.post("/customer/new", b),
  update: (r, b) => api.post("/customer/update", { ...b, user_id: r.user_id }),
  remove: (r) => api.post("/customer/delete", { user_ids: [r.user_id] }),
  rowActions: (r, reload, say) => (
    <button
      type="button"
      aria-label={`${r.blocked ? "Unblock" : "Block"} ${String(r.user_id)}`}
      onClick={async () => {
        try {
          await api.post(r.blocked ? "/customer/unblock" : "/customer/block", { user_ids: [r.user_id] });
          say("ok", `${String(r.user_id)} ${r.blocked ? "unblocked" : "blocked"}.`);
          reload();
        } catch (e) {
          say("error", String((e as Error).message));
        }
      }}
    >
      {r.blocked ? "Unblock" : "Block"}
    </button>
  ),
};

const budgets: CrudSpec = {
  title: "Budgets",
  noun: "budget",
  load: () => api.get<Row[]>("/budget/list"),
  id: (r) => String(r.budget_id),
  name: (r) => String(r.budget_id),
  columns: [
    { label: "Budget ID", cell: (r) => <code>{text(r.budget_id)}</code> },
    { label: "Max budget", num: true, cell: (r) => usd(r.max_budget) },
    { label: "Soft budget", num: true, cell: (r) => usd(r.soft_budget) },
    { label: "Resets every", cell: (r) => text(r.budget_duration) },
    { label: "RPM / TPM / parallel", cell: (r) => [r.rpm_limit, r.tpm_limit, r.max_parallel_requests].map((v) => (v == null ? "–" : String(v))).join(" / ") },
    { label: "Next reset", cell: (r) => when(r.budget_reset_at) },
  ],
  fields: [{ name: "budget_id", label: "Budget ID", kind: "text", createOnly: true, hint: "Empty = generated" }, ...LIMIT_FIELDS],
  create: (b) => api.post("/budget/new", b),
  update: (r, b) => api.post("/budget/update", { ...b, budget_id: r.budget_id }),
  remove: (r) => api.post("/budget/delete", { budget_id: r.budget_id }),
};

export const OrgsPage = () => <CrudPage spec={orgs} />;
export const CustomersPage = () => (
  <CrudPage spec={customers} intro={<p class="intro">End users are the callers your apps name in a request's <code>user</code> field; they can have their own budget.</p>} />
);
export const BudgetsPage = () => <CrudPage spec={budgets} intro={<p class="intro">Reusable budgets: attach one to keys, users, teams, organizations or end users by its ID.</p>} />;
