// A list + create / edit / delete page described by data: which route lists, which fields the
// form has and how they map to the management API. Users, organizations, end users and budgets
// use it as is; teams add their members panel.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { compact, FormError, int, items, num, object, str } from "../lib/forms";
import { Confirm, Field, Loading, Modal, Notice, Pager, Section, Select, Table, useLoad, type Column, type Submit } from "../lib/ui";

export type Kind = "text" | "money" | "int" | "list" | "json" | "role";

export interface FormField {
  name: string;
  label: string;
  kind: Kind;
  hint?: string;
  placeholder?: string;
  /// Only when creating (an id chosen once).
  createOnly?: boolean;
  options?: (string | [string, string])[];
}

export type Row = Record<string, unknown>;

export interface Paged {
  rows: Row[];
  pages: number;
  total: number;
}

export interface CrudSpec {
  title: string;
  noun: string;
  /// One page of rows (`pages`/`total` when the route pages on the server).
  load: (page: number) => Promise<Row[] | Paged>;
  id: (r: Row) => string;
  name: (r: Row) => string;
  columns: Column<Row>[];
  fields: FormField[];
  create: (body: Row) => Promise<unknown>;
  update: (r: Row, body: Row) => Promise<unknown>;
  remove: (r: Row) => Promise<unknown>;
  /// Extra buttons per row (block, members…); `reload` refreshes the list.
  rowActions?: (r: Row, reload: () => void, say: (kind: "ok" | "error", text: string) => void) => ComponentChildren;
  /// A panel under the list for the selected row.
  detail?: (r: Row, reload: () => void) => ComponentChildren;
  /// Client-side filter on the loaded rows (the list routes are not paged).
  filter?: (r: Row, q: string) => boolean;
}

function parse(fields: FormField[], values: Record<string, string>, editing: boolean): Row {
  const out: Row = {};
  for (const f of fields) {
    if (editing && f.createOnly) continue;
    const v = values[f.name] ?? "";
    switch (f.kind) {
      case "money":
        out[f.name] = num(f.label, v);
        break;
      case "int":
        out[f.name] = int(f.label, v);
        break;
      case "list":
        out[f.name] = items(v);
        break;
      case "json":
        out[f.name] = object(f.label, v) ?? (editing ? {} : null);
        break;
      default:
        out[f.name] = v.trim() || null;
    }
  }
  return out;
}

export function CrudPage(p: { spec: CrudSpec; intro?: ComponentChildren }) {
  const s = p.spec;
  const [page, setPage] = useState(1);
  const loaded = useLoad(() => s.load(page), [page]);
  const paged = loaded.data && !Array.isArray(loaded.data) ? loaded.data : undefined;
  const rows = { ...loaded, data: loaded.data ? (Array.isArray(loaded.data) ? loaded.data : loaded.data.rows) : undefined };
  const [editing, setEditing] = useState<Row | "new" | null>(null);
  const [deleting, setDeleting] = useState<Row | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [q, setQ] = useState("");
  const [msg, setMsg] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const say = (kind: "ok" | "error", text: string) => setMsg({ kind, text });
  const shown = (rows.data ?? []).filter((r) => !q.trim() || (s.filter ? s.filter(r, q.trim().toLowerCase()) : JSON.stringify(r).toLowerCase().includes(q.trim().toLowerCase())));
  const sel = shown.find((r) => s.id(r) === selected);
  const columns: Column<Row>[] = [
    ...s.columns,
    {
      label: "Actions",
      cell: (r) => (
        <div class="row-actions">
          {s.detail && (
            <button type="button" aria-pressed={selected === s.id(r)} onClick={() => setSelected(selected === s.id(r) ? null : s.id(r))} aria-label={`Details of ${s.name(r)}`}>
              Details
            </button>
          )}
          <button type="button" onClick={() => setEditing(r)} aria-label={`Edit ${s.name(r)}`}>
            Edit
          </button>
          {s.rowActions?.(r, rows.reload, say)}
          <button type="button" class="danger" onClick={() => setDeleting(r)} aria-label={`Delete ${s.name(r)}`}>
            Delete
          </button>
        </div>
      ),
    },
  ];
  return (
    <>
      <h1>{s.title}</h1>
      {p.intro}
      <Section
        title={s.title}
        actions={
          <button type="button" class="primary" onClick={() => setEditing("new")}>
            Create {s.noun}
          </button>
        }
      >
        <div class="filters" role="search">
          <Field label={`Search ${s.title.toLowerCase()}`} value={q} onInput={setQ} hint={paged ? "Searches this page" : undefined} />
        </div>
        {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
        <Loading loading={rows.loading && !rows.data} error={rows.error} />
        {rows.data && <Table caption={s.title} rows={shown} rowKey={(r) => s.id(r)} columns={columns} empty={`No ${s.noun} yet.`} />}
        {paged && <Pager page={page} pages={paged.pages} total={paged.total} onPage={setPage} label={`${s.title} pages`} />}
      </Section>
      {sel && s.detail?.(sel, rows.reload)}
      {editing && (
        <CrudForm
          spec={s}
          row={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            say("ok", `${s.noun[0].toUpperCase()}${s.noun.slice(1)} saved.`);
            rows.reload();
          }}
        />
      )}
      {deleting && (
        <Confirm
          title={`Delete ${s.noun}`}
          message={`Delete ${s.name(deleting)}? This cannot be undone.`}
          action="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            const r = deleting;
            setDeleting(null);
            try {
              await s.remove(r);
              say("ok", `${s.name(r)} deleted.`);
              rows.reload();
            } catch (e) {
              say("error", String((e as Error).message));
            }
          }}
        />
      )}
    </>
  );
}

function CrudForm(p: { spec: CrudSpec; row: Row | null; onClose: () => void; onSaved: () => void }) {
  const { spec, row } = p;
  const fields = spec.fields.filter((f) => !(row && f.createOnly));
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(spec.fields.map((f) => [f.name, str(row?.[f.name])])));
  const [error, setError] = useState("");
  const submit = async (e: Submit) => {
    e.preventDefault();
    setError("");
    try {
      const body = parse(spec.fields, values, !!row);
      if (row) await spec.update(row, body);
      else await spec.create(compact(body));
      p.onSaved();
    } catch (err) {
      setError(err instanceof FormError ? err.message : String((err as Error).message));
    }
  };
  return (
    <Modal title={row ? `Edit ${spec.noun} ${spec.name(row)}` : `Create ${spec.noun}`} onClose={p.onClose} wide>
      <form class="grid-form" onSubmit={submit}>
        {fields.map((f) =>
          f.options ? (
            <Select key={f.name} label={f.label} value={values[f.name]} options={f.options} onChange={(v) => setValues({ ...values, [f.name]: v })} />
          ) : (
            <div class={f.kind === "json" ? "span" : undefined} key={f.name}>
              <Field
                label={f.label}
                value={values[f.name]}
                hint={f.hint}
                placeholder={f.placeholder}
                type={f.kind === "money" || f.kind === "int" ? "number" : "text"}
                multiline={f.kind === "json"}
                onInput={(v) => setValues({ ...values, [f.name]: v })}
              />
            </div>
          ),
        )}
        {error && (
          <div class="span">
            <Notice kind="error">{error}</Notice>
          </div>
        )}
        <div class="actions span">
          <button type="submit" class="primary">
            {row ? "Save" : `Create ${spec.noun}`}
          </button>
          <button type="button" onClick={p.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

/// The budget fields every entity shares (LiteLLM's names).
export const LIMIT_FIELDS: FormField[] = [
  { name: "max_budget", label: "Max budget (USD)", kind: "money" },
  { name: "soft_budget", label: "Soft budget (USD)", kind: "money", hint: "Alert only" },
  { name: "budget_duration", label: "Budget resets every", kind: "text", placeholder: "30d" },
  { name: "rpm_limit", label: "RPM limit", kind: "int" },
  { name: "tpm_limit", label: "TPM limit", kind: "int" },
  { name: "max_parallel_requests", label: "Parallel requests", kind: "int" },
];
