// Virtual keys: the list (search by alias or token prefix, filters by team and user; server-side
// paging from the gateway's ordered key index, so 100,000 keys page as fast as 10), create (the new secret shown once, with a copy button), edit,
// block/unblock, regenerate and delete (each destructive action confirmed).
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api";
import { count, list, text, usd, when } from "../lib/format";
import { compact, FormError, int, items, num, object, str } from "../lib/forms";
import { setQuery, useLocation } from "../lib/router";
import { Check, Confirm, CopyButton, Field, Loading, Modal, Notice, Pager, Section, Select, Table, useLoad, type Submit } from "../lib/ui";

export interface Key {
  token: string;
  key_name?: string | null;
  key_alias?: string | null;
  team_id?: string | null;
  user_id?: string | null;
  organization_id?: string | null;
  models?: string[];
  spend?: number;
  max_budget?: number | null;
  soft_budget?: number | null;
  budget_duration?: string | null;
  rpm_limit?: number | null;
  tpm_limit?: number | null;
  max_parallel_requests?: number | null;
  expires?: string | null;
  blocked?: boolean | null;
  metadata?: Record<string, unknown>;
  tags?: string[];
  created_at?: string;
}

interface KeyList {
  keys: Key[];
  total_count: number;
  current_page: number;
  total_pages: number;
}

export interface Team {
  team_id: string;
  team_alias?: string | null;
}

const PAGE_SIZE = 25;

export function teamOptions(teams: Team[] | undefined, none = "Any team"): [string, string][] {
  return [["", none], ...(teams ?? []).map((t): [string, string] => [t.team_id, t.team_alias ? `${t.team_alias} (${t.team_id})` : t.team_id])];
}

export function KeysPage() {
  const { query } = useLocation();
  const page = Math.max(1, Number(query.get("page")) || 1);
  const filters = { search: query.get("search") ?? "", team_id: query.get("team_id") ?? "", user_id: query.get("user_id") ?? "" };
  const [draft, setDraft] = useState(filters);
  useEffect(() => setDraft(filters), [query.toString()]);
  const [editing, setEditing] = useState<Key | "new" | null>(null);
  const [secret, setSecret] = useState<{ key: string; alias: string } | null>(null);
  const [confirm, setConfirm] = useState<{ what: "delete" | "regenerate"; key: Key } | null>(null);
  const [msg, setMsg] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const teams = useLoad(() => api.get<Team[]>("/team/list"), []);
  const keys = useLoad(
    () => api.get<KeyList>("/key/list", { ...filters, page, size: PAGE_SIZE, return_full_object: true }),
    [page, filters.search, filters.team_id, filters.user_id],
  );
  const act = async (f: () => Promise<unknown>, ok: string) => {
    setMsg(null);
    try {
      await f();
      setMsg({ kind: "ok", text: ok });
      keys.reload();
    } catch (e) {
      setMsg({ kind: "error", text: String((e as Error).message) });
    }
  };
  const label = (k: Key) => k.key_alias || k.key_name || k.token.slice(0, 12);
  const search = (e: Submit) => {
    e.preventDefault();
    setQuery({ ...draft, page: 1 });
  };
  return (
    <>
      <h1>Virtual keys</h1>
      <Section
        title="Keys"
        actions={
          <button type="button" class="primary" onClick={() => setEditing("new")}>
            Create key
          </button>
        }
      >
        <form class="filters" onSubmit={search} role="search" aria-label="Filter keys">
          <Field label="Search" value={draft.search} onInput={(v) => setDraft({ ...draft, search: v })} placeholder="alias contains… or token prefix" />
          <Select label="Team" value={draft.team_id} onChange={(v) => setDraft({ ...draft, team_id: v })} options={teamOptions(teams.data)} />
          <Field label="User ID" value={draft.user_id} onInput={(v) => setDraft({ ...draft, user_id: v })} />
          <div class="field end">
            <button type="submit">Filter</button>
          </div>
        </form>
        {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
        <Loading loading={keys.loading && !keys.data} error={keys.error} />
        {keys.data && (
          <>
            <Table
              caption="Virtual keys"
              rowKey={(k) => k.token}
              rows={keys.data.keys}
              empty="No key matches."
              columns={[
                { label: "Alias", cell: (k) => <span class="strong">{text(k.key_alias)}</span> },
                { label: "Key", cell: (k) => <code>{text(k.key_name)}</code> },
                { label: "Team", cell: (k) => text(k.team_id) },
                { label: "User", cell: (k) => text(k.user_id) },
                { label: "Models", cell: (k) => list(k.models) },
                { label: "Spend / budget", num: true, cell: (k) => `${usd(k.spend)} / ${k.max_budget == null ? "∞" : usd(k.max_budget)}` },
                { label: "RPM / TPM / parallel", cell: (k) => [k.rpm_limit, k.tpm_limit, k.max_parallel_requests].map((v) => (v == null ? "–" : count(v))).join(" / ") },
                { label: "Expires", cell: (k) => when(k.expires) },
                { label: "Status", cell: (k) => (k.blocked ? <span class="badge bad">blocked</span> : <span class="badge good">active</span>) },
                {
                  label: "Actions",
                  cell: (k) => (
                    <div class="row-actions">
                      <button type="button" onClick={() => setEditing(k)} aria-label={`Edit ${label(k)}`}>
                        Edit
                      </button>
                      <button
                        type="button"
                        aria-label={`${k.blocked ? "Unblock" : "Block"} ${label(k)}`}
                        onClick={() => act(() => api.post(k.blocked ? "/key/unblock" : "/key/block", { key: k.token }), `${label(k)} ${k.blocked ? "unblocked" : "blocked"}.`)}
                      >
                        {k.blocked ? "Unblock" : "Block"}
                      </button>
                      <button type="button" onClick={() => setConfirm({ what: "regenerate", key: k })} aria-label={`Regenerate ${label(k)}`}>
                        Regenerate
                      </button>
                      <button type="button" class="danger" onClick={() => setConfirm({ what: "delete", key: k })} aria-label={`Delete ${label(k)}`}>
                        Delete
                      </button>
                    </div>
                  ),
                },
              ]}
            />
            <Pager page={page} pages={keys.data.total_pages} total={keys.data.total_count} onPage={(n) => setQuery({ ...filters, page: n })} label="Key pages" />
          </>
        )}
      </Section>
      {editing && (
        <KeyForm
          keyDoc={editing === "new" ? null : editing}
          teams={teams.data ?? []}
          onClose={() => setEditing(null)}
          onSaved={(created) => {
            setEditing(null);
            if (created) setSecret(created);
            else setMsg({ kind: "ok", text: "Key saved." });
            keys.reload();
          }}
        />
      )}
      {secret && (
        <Modal title="Your new key" onClose={() => setSecret(null)}>
          <p>
            Copy the key for <strong>{secret.alias || "this key"}</strong> now: it is shown only once and cannot be read again.
          </p>
          <div class="secret">
            <label for="new-secret">Key</label>
            <input id="new-secret" data-copy-source readOnly value={secret.key} onFocus={(e) => e.currentTarget.select()} />
            <CopyButton value={secret.key} />
          </div>
          <div class="actions">
            <button type="button" class="primary" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </Modal>
      )}
      {confirm && (
        <Confirm
          title={confirm.what === "delete" ? "Delete key" : "Regenerate key"}
          message={
            confirm.what === "delete"
              ? `Delete ${label(confirm.key)}? Requests with it are refused at once. This cannot be undone.`
              : `Replace the secret of ${label(confirm.key)}? The old secret stops working at once; settings and spend stay.`
          }
          action={confirm.what === "delete" ? "Delete" : "Regenerate"}
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const k = confirm.key;
            setConfirm(null);
            if (confirm.what === "delete") {
              await act(() => api.post("/key/delete", { keys: [k.token] }), `${label(k)} deleted.`);
            } else {
              try {
                const r = await api.post<{ key: string }>("/key/regenerate", { key: k.token });
                setSecret({ key: r.key, alias: k.key_alias ?? "" });
                keys.reload();
              } catch (e) {
                setMsg({ kind: "error", text: String((e as Error).message) });
              }
            }
          }}
        />
      )}
    </>
  );
}

function KeyForm(p: { keyDoc: Key | null; teams: Team[]; onClose: () => void; onSaved: (created: { key: string; alias: string } | null) => void }) {
  const k = p.keyDoc;
  const [f, setF] = useState({
    key_alias: str(k?.key_alias),
    models: str(k?.models),
    max_budget: str(k?.max_budget),
    soft_budget: str(k?.soft_budget),
    budget_duration: str(k?.budget_duration),
    duration: "",
    rpm_limit: str(k?.rpm_limit),
    tpm_limit: str(k?.tpm_limit),
    max_parallel_requests: str(k?.max_parallel_requests),
    team_id: str(k?.team_id),
    user_id: str(k?.user_id),
    tags: str(k?.tags),
    metadata: str(k?.metadata),
    blocked: !!k?.blocked,
  });
  const [error, setError] = useState("");
  const set = (name: keyof typeof f) => (v: string) => setF({ ...f, [name]: v });
  const submit = async (e: Submit) => {
    e.preventDefault();
    setError("");
    try {
      const body: Record<string, unknown> = {
        key_alias: f.key_alias.trim() || null,
        models: items(f.models),
        max_budget: num("Max budget", f.max_budget),
        soft_budget: num("Soft budget", f.soft_budget),
        budget_duration: f.budget_duration.trim() || null,
        rpm_limit: int("RPM limit", f.rpm_limit),
        tpm_limit: int("TPM limit", f.tpm_limit),
        max_parallel_requests: int("Parallel requests", f.max_parallel_requests),
        team_id: f.team_id || null,
        user_id: f.user_id.trim() || null,
        tags: items(f.tags),
        metadata: object("Metadata", f.metadata) ?? {},
      };
      if (f.duration.trim()) body.duration = f.duration.trim();
      if (k) {
        await api.post("/key/update", { key: k.token, ...body, blocked: f.blocked });
        p.onSaved(null);
      } else {
        const r = await api.post<{ key: string }>("/key/generate", compact(body));
        p.onSaved({ key: r.key, alias: f.key_alias.trim() });
      }
    } catch (err) {
      setError(err instanceof FormError ? err.message : String((err as Error).message));
    }
  };
  return (
    <Modal title={k ? `Edit key ${k.key_alias ?? k.key_name ?? ""}` : "Create key"} onClose={p.onClose} wide>
      <form onSubmit={submit} class="grid-form">
        <Field label="Alias" value={f.key_alias} onInput={set("key_alias")} />
        <Field label="Models" value={f.models} onInput={set("models")} hint="Comma separated model groups; empty = all" />
        <Field label="Max budget (USD)" value={f.max_budget} onInput={set("max_budget")} type="number" />
        <Field label="Soft budget (USD)" value={f.soft_budget} onInput={set("soft_budget")} type="number" hint="Alert only" />
        <Field label="Budget resets every" value={f.budget_duration} onInput={set("budget_duration")} placeholder="30d" hint="e.g. 1d, 7d, 30d, 1mo" />
        <Field label={k ? "Extend validity by" : "Valid for"} value={f.duration} onInput={set("duration")} placeholder="90d" hint={k ? `Expires now: ${when(k.expires)}` : "Empty = never expires"} />
        <Field label="RPM limit" value={f.rpm_limit} onInput={set("rpm_limit")} type="number" />
        <Field label="TPM limit" value={f.tpm_limit} onInput={set("tpm_limit")} type="number" />
        <Field label="Parallel requests" value={f.max_parallel_requests} onInput={set("max_parallel_requests")} type="number" />
        <Select label="Team" value={f.team_id} onChange={set("team_id")} options={teamOptions(p.teams, "No team")} />
        <Field label="User ID" value={f.user_id} onInput={set("user_id")} />
        <Field label="Tags" value={f.tags} onInput={set("tags")} hint="Comma separated" />
        <div class="span">
          <Field label="Metadata (JSON)" value={f.metadata} onInput={set("metadata")} multiline placeholder='{"owner": "billing"}' />
        </div>
        {k && <Check label="Blocked" checked={f.blocked} onChange={(v) => setF({ ...f, blocked: v })} />}
        {error && (
          <div class="span">
            <Notice kind="error">{error}</Notice>
          </div>
        )}
        <div class="actions span">
          <button type="submit" class="primary">
            {k ? "Save" : "Create key"}
          </button>
          <button type="button" onClick={p.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}
