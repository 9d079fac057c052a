// Shared building blocks: labelled form fields, tables, paging, confirm dialogs, notices and
// the copy button. Every user-provided string is rendered as a text node (JSX escapes it);
// nothing here sets innerHTML.
import type { ComponentChildren, HTMLInputTypeAttribute, InputHTMLAttributes, TargetedSubmitEvent } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

let ids = 0;
function useId(prefix: string) {
  const r = useRef("");
  if (!r.current) r.current = `${prefix}-${++ids}`;
  return r.current;
}

interface FieldProps {
  label: string;
  value: string;
  onInput: (v: string) => void;
  type?: HTMLInputTypeAttribute;
  placeholder?: string;
  hint?: string;
  required?: boolean;
  name?: string;
  multiline?: boolean;
  list?: string;
}

/// A text input with its <label> (and a hint tied to it with aria-describedby).
export function Field(p: FieldProps) {
  const id = useId("f");
  const hintId = p.hint ? id + "-hint" : undefined;
  const common = {
    id,
    name: p.name ?? id,
    value: p.value,
    placeholder: p.placeholder,
    required: p.required,
    "aria-describedby": hintId,
    onInput: (e: Event) => p.onInput((e.currentTarget as HTMLInputElement).value),
  };
  // Numbers take decimals (budgets) and no negative values.
  const inputProps = { ...common, type: p.type ?? "text", list: p.list, step: p.type === "number" ? "any" : undefined, min: p.type === "number" ? 0 : undefined };
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      {p.multiline ? <textarea rows={3} {...common} /> : <input {...(inputProps as unknown as InputHTMLAttributes<HTMLInputElement>)} />}
      {p.hint && (
        <small id={hintId} class="hint">
          {p.hint}
        </small>
      )}
    </div>
  );
}

export function Select(p: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: (string | [string, string])[];
  name?: string;
  /// The label only for screen readers (a select inside a table row named by the row).
  hideLabel?: boolean;
}) {
  const id = useId("s");
  return (
    <div class="field">
      <label for={id} class={p.hideLabel ? "sr-only" : undefined}>
        {p.label}
      </label>
      <select id={id} name={p.name ?? id} value={p.value} onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value)}>
        {p.options.map((o) => {
          const [v, t] = Array.isArray(o) ? o : [o, o];
          return (
            <option key={v} value={v}>
              {t}
            </option>
          );
        })}
      </select>
    </div>
  );
}

export function Check(p: { label: string; checked: boolean; onChange: (v: boolean) => void }) {
  const id = useId("c");
  return (
    <div class="field check">
      <input id={id} type="checkbox" checked={p.checked} onChange={(e) => p.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{p.label}</label>
    </div>
  );
}

export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  /// Right-aligned numbers.
  num?: boolean;
}

/// A table with a caption (for screen readers), scrolling horizontally on narrow screens.
export function Table<T>(p: { caption: string; columns: Column<T>[]; rows: T[]; rowKey: (r: T, i: number) => string; empty?: string }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={p.caption}>
      {/* Explicit roles: at 390 px the rows are laid out as cards (CSS display: block), which
          would otherwise drop the table semantics in some browsers. */}
      <table role="table">
        <caption class="sr-only">{p.caption}</caption>
        <thead role="rowgroup">
          <tr role="row">
            {p.columns.map((c) => (
              <th scope="col" role="columnheader" class={c.num ? "num" : undefined} key={c.label}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody role="rowgroup">
          {p.rows.length === 0 ? (
            <tr role="row">
              <td role="cell" colSpan={p.columns.length} class="empty">
                {p.empty ?? "Nothing here yet."}
              </td>
            </tr>
          ) : (
            p.rows.map((r, i) => (
              <tr role="row" key={p.rowKey(r, i)}>
                {p.columns.map((c) => (
                  <td role="cell" class={c.num ? "num" : undefined} key={c.label} data-label={c.label}>
                    {c.cell(r)}
                  </td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

/// Previous / next paging with the page number and, when known, the total.
export function Pager(p: { page: number; pages?: number; total?: number; hasNext?: boolean; onPage: (n: number) => void; label?: string }) {
  const next = p.hasNext ?? (p.pages !== undefined && p.page < p.pages);
  return (
    <nav class="pager" aria-label={p.label ?? "Pages"}>
      <button type="button" disabled={p.page <= 1} onClick={() => p.onPage(p.page - 1)}>
        ← Previous
      </button>
      <span aria-live="polite">
        Page {p.page}
        {p.pages !== undefined ? ` of ${Math.max(p.pages, 1)}` : ""}
        {p.total !== undefined ? ` · ${p.total.toLocaleString("en-US")} in all` : ""}
      </span>
      <button type="button" disabled={!next} onClick={() => p.onPage(p.page + 1)}>
        Next →
      </button>
    </nav>
  );
}

/// A modal <dialog> (focus kept inside, Escape closes) asking to confirm a destructive action.
export function Confirm(p: { title: string; message: ComponentChildren; action: string; onConfirm: () => void; onClose: () => void }) {
  return (
    <Modal title={p.title} onClose={p.onClose}>
      <p>{p.message}</p>
      <div class="actions">
        <button type="button" class="danger" onClick={p.onConfirm}>
          {p.action}
        </button>
        <button type="button" onClick={p.onClose} autoFocus>
          Cancel
        </button>
      </div>
    </Modal>
  );
}

export function Modal(p: { title: string; children: ComponentChildren; onClose: () => void; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId("d");
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} class={p.wide ? "wide" : undefined} aria-labelledby={titleId} onClose={p.onClose} onCancel={p.onClose}>
      <h2 id={titleId}>{p.title}</h2>
      {p.children}
    </dialog>
  );
}

export function Notice(p: { kind: "error" | "ok" | "info"; children: ComponentChildren }) {
  return (
    <div class={`notice ${p.kind}`} role={p.kind === "error" ? "alert" : "status"}>
      {p.children}
    </div>
  );
}

/// Copies `value` to the clipboard (falls back to selecting it for Ctrl+C).
export function CopyButton(p: { value: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(p.value);
      setDone(true);
    } catch {
      const el = document.querySelector<HTMLInputElement>("[data-copy-source]");
      el?.select();
      setDone(false);
    }
  };
  return (
    <button type="button" onClick={copy} aria-live="polite">
      {done ? "Copied" : (p.label ?? "Copy")}
    </button>
  );
}

/// Runs `load` when `deps` change; gives its result, error and a reload function.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: string; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (e) => live && setState({ error: String(e?.message ?? e), loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function Loading(p: { error?: string; loading: boolean }) {
  if (p.error) return <Notice kind="error">{p.error}</Notice>;
  if (p.loading) return <p class="loading" role="status">Loading…</p>;
  return null;
}

export function Section(p: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <h2>{p.title}</h2>
        {p.actions && <div class="actions">{p.actions}</div>}
      </header>
      {p.children}
    </section>
  );
}

export function Stat(p: { label: string; value: ComponentChildren }) {
  return (
    <div class="stat">
      <div class="stat-label">{p.label}</div>
      <div class="stat-value">{p.value}</div>
    </div>
  );
}

export type Submit = TargetedSubmitEvent<HTMLFormElement>;
