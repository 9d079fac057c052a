// Teams: list, create, edit (models, budgets, limits), block/unblock, delete, and a team's
// members with their roles (add, change role, remove) and keys.
import { useState } from "preact/hooks";
import { api } from "../lib/api";
import { list, text, usd } from "../lib/format";
import { Field, Loading, Notice, Section, Select, Table, useLoad, type Submit } from "../lib/ui";
import { CrudPage, LIMIT_FIELDS, type CrudSpec, type Row } from "./crud";

interface TeamInfo {
  team_info: Row;
  keys: Row[];
  team_memberships: Row[];
}

interface Member {
  user_id?: string | null;
  user_email?: string | null;
  role: string;
}

function Members(p: { team: Row; reload: () => void }) {
  const id = String(p.team.team_id);
  const info = useLoad(() => api.get<TeamInfo>("/team/info", { team_id: id }), [id]);
  const [user, setUser] = useState("");
  const [role, setRole] = useState("user");
  const [msg, setMsg] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const run = async (f: () => Promise<unknown>, ok: string) => {
    setMsg(null);
    try {
      await f();
      setMsg({ kind: "ok", text: ok });
      info.reload();
      p.reload();
    } catch (e) {
      setMsg({ kind: "error", text: String((e as Error).message) });
    }
  };
  const add = (e: Submit) => {
    e.preventDefault();
    const u = user.trim();
    if (!u) return;
    const member = u.includes("@") ? { user_email: u, role } : { user_id: u, role };
    run(() => api.post("/team/member_add", { team_id: id, member }), `${u} added as ${role}.`).then(() => setUser(""));
  };
  const members = ((info.data?.team_info.members_with_roles as Member[] | undefined) ?? []).map((m, i) => ({ ...m, i }));
  const name = (m: Member) => m.user_id ?? m.user_email ?? "?";
  return (
    <Section title={`Team ${String(p.team.team_alias ?? id)}: members and keys`}>
      <Loading loading={info.loading && !info.data} error={info.error} />
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      <Table
        caption="Members"
        rows={members}
        rowKey={(m) => `${name(m)}-${m.i}`}
        empty="No members."
        columns={[
          { label: "User", cell: (m) => <code>{name(m)}</code> },
          { label: "Email", cell: (m) => text(m.user_email) },
          {
            label: "Role",
            cell: (m) => (
              <Select
                label={`Role of ${name(m)}`}
                hideLabel
                value={m.role}
                options={["user", "admin"]}
                onChange={(r) => run(() => api.post("/team/member_update", { team_id: id, user_id: m.user_id, user_email: m.user_email, role: r }), `${name(m)} is now ${r}.`)}
              />
            ),
          },
          {
            label: "Actions",
            cell: (m) => (
              <button type="button" class="danger" aria-label={`Remove ${name(m)}`} onClick={() => run(() => api.post("/team/member_delete", { team_id: id, user_id: m.user_id, user_email: m.user_email }), `${name(m)} removed.`)}>
                Remove
              </button>
            ),
          },
        ]}
      />
      <form class="filters" onSubmit={add} aria-label="Add a member">
        <Field label="User ID or email" value={user} onInput={setUser} />
        <Select label="Role" value={role} onChange={setRole} options={["user", "admin"]} />
        <div class="field end">
          <button type="submit">Add member</button>
        </div>
      </form>
      <h3>Keys</h3>
      <Table
        caption="Team keys"
        rows={info.data?.keys ?? []}
        rowKey={(k, i) => String(k.token ?? i)}
        empty="No keys in this team."
        columns={[
          { label: "Alias", cell: (k) => text(k.key_alias) },
          { label: "Key", cell: (k) => <code>{text(k.key_name)}</code> },
          { label: "Spend", num: true, cell: (k) => usd(k.spend) },
        ]}
      />
      <p>
        <a href={`/ui/keys?team_id=${encodeURIComponent(id)}`}>Manage this team's keys</a> · <a href={`/ui/usage?group_by=key&team_id=${encodeURIComponent(id)}`}>Usage of this team</a>
      </p>
    </Section>
  );
}

const teams: CrudSpec = {
  title: "Teams",
  noun: "team",
  load: () => api.get<Row[]>("/team/list"),
  id: (r) => String(r.team_id),
  name: (r) => String(r.team_alias ?? r.team_id),
  columns: [
    { label: "Alias", cell: (r) => <span class="strong">{text(r.team_alias)}</span> },
    { label: "Team ID", cell: (r) => <code>{text(r.team_id)}</code> },
    { label: "Models", cell: (r) => list(r.models) },
    { label: "Spend / budget", num: true, cell: (r) => `${usd(r.spend)} / ${r.max_budget == null ? "∞" : usd(r.max_budget)}` },
    { label: "Members", num: true, cell: (r) => (Array.isArray(r.members_with_roles) ? r.members_with_roles.length : 0) },
    { label: "Status", cell: (r) => (r.blocked ? <span class="badge bad">blocked</span> : <span class="badge good">active</span>) },
  ],
  fields: [
    { name: "team_alias", label: "Alias", kind: "text" },
    { name: "team_id", label: "Team ID", kind: "text", createOnly: true, hint: "Empty = generated" },
    { name: "models", label: "Models", kind: "list", hint: "Comma separated; empty = all" },
    ...LIMIT_FIELDS,
    { name: "organization_id", label: "Organization ID", kind: "text" },
    { name: "metadata", label: "Metadata (JSON)", kind: "json" },
  ],
  create: (b) => api.post("/team/new", b),
  update: (r, b) => api.post("/team/update", { ...b, team_id: r.team_id }),
  remove: (r) => api.post("/team/delete", { team_ids: [r.team_id] }),
  rowActions: (r, reload, say) => (
    <button
      type="button"
      aria-label={`${r.blocked ? "Unblock" : "Block"} ${String(r.team_alias ?? r.team_id)}`}
      onClick={async () => {
        try {
          await api.post(r.blocked ? "/team/unblock" : "/team/block", { team_id: r.team_id });
          say("ok", `Team ${String(r.team_alias ?? r.team_id)} ${r.blocked ? "unblocked" : "blocked"}.`);
          reload();
        } catch (e) {
          say("error", String((e as Error).message));
        }
      }}
    >
      {r.blocked ? "Unblock" : "Block"}
    </button>
  ),
  detail: (r, reload) => <Members team={r} reload={reload} />,
};

export const TeamsPage = () => <CrudPage spec={teams} />;
