// Request logs (GET /tollgate/logs): filters by key, team, user, model group, status and time,
// keyset paging (next page by cursor; previous pages kept in memory), and one request's detail
// (GET /tollgate/logs/{call_id}). A virtual-key session sees its own key's requests only.
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api";
import { count, ms, text, usd, when } from "../lib/format";
import { setQuery, useLocation } from "../lib/router";
import { Field, Loading, Modal, Pager, Section, Select, Table, useLoad, type Submit } from "../lib/ui";

type LogRow = Record<string, unknown>;

interface Logs {
  data: LogRow[];
  next_cursor: string | null;
}

const FILTERS = ["api_key", "team_id", "user_id", "model_group", "status", "start_date", "end_date"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

export function LogsPage(p: { self?: boolean }) {
  const { query } = useLocation();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ""])) as Filters;
  const [draft, setDraft] = useState(filters);
  // cursors[i] is the cursor of page i + 1 (page 1 has none).
  const [cursors, setCursors] = useState<string[]>([""]);
  const [page, setPage] = useState(1);
  useEffect(() => {
    setDraft(filters);
    setCursors([""]);
    setPage(1);
  }, [query.toString()]);
  const [detail, setDetail] = useState<string | null>(null);
  const fkey = JSON.stringify(filters);
  const logs = useLoad(() => api.get<Logs>("/tollgate/logs", { ...filters, limit: 50, cursor: cursors[page - 1] || undefined }), [fkey, page]);
  const apply = (e: Submit) => {
    e.preventDefault();
    setCursors([""]);
    setPage(1);
    setQuery(draft);
  };
  const go = (n: number) => {
    if (n > page && logs.data?.next_cursor) {
      const c = [...cursors];
      c[n - 1] = logs.data.next_cursor;
      setCursors(c);
    }
    setPage(n);
  };
  const set = (f: keyof Filters) => (v: string) => setDraft({ ...draft, [f]: v });
  return (
    <>
      <h1>{p.self ? "My requests" : "Logs"}</h1>
      <Section title="Filters">
        <form class="filters" onSubmit={apply} aria-label="Log filters">
          {!p.self && <Field label="Key (sk-… or hash)" value={draft.api_key} onInput={set("api_key")} />}
          {!p.self && <Field label="Team ID" value={draft.team_id} onInput={set("team_id")} />}
          {!p.self && <Field label="User ID" value={draft.user_id} onInput={set("user_id")} />}
          <Field label="Model group" value={draft.model_group} onInput={set("model_group")} />
          <Select
            label="Status"
            value={draft.status}
            onChange={set("status")}
            options={[
              ["", "Any"],
              ["success", "Success"],
              ["failure", "Failure"],
            ]}
          />
          <Field label="From" type="date" value={draft.start_date} onInput={set("start_date")} />
          <Field label="To" type="date" value={draft.end_date} onInput={set("end_date")} />
          <div class="field end">
            <button type="submit" class="primary">
              Filter
            </button>
          </div>
        </form>
      </Section>
      <Section title="Requests, newest first">
        <Loading loading={logs.loading && !logs.data} error={logs.error} />
        {logs.data && (
          <>
            <Table
              caption="Requests"
              rows={logs.data.data}
              rowKey={(r, i) => String(r.call_id ?? r.request_id ?? i)}
              empty="No request matches."
              columns={[
                { label: "Time", cell: (r) => when(r.startTime) },
                { label: "Status", cell: (r) => <span class={`badge ${r.status === "failure" ? "bad" : "good"}`}>{text(r.status)}</span> },
                { label: "Key", cell: (r) => text(r.key_alias || (typeof r.api_key === "string" ? r.api_key.slice(0, 12) : "")) },
                { label: "Team", cell: (r) => text(r.team_id) },
                { label: "Model group", cell: (r) => text(r.model_group) },
                { label: "Tokens", num: true, cell: (r) => count(r.total_tokens) },
                { label: "Cost", num: true, cell: (r) => usd(r.spend, 6) },
                { label: "Latency", num: true, cell: (r) => ms(r.latency_ms) },
                { label: "Cache", cell: (r) => (r.cache_hit === "True" || r.cache_hit === true ? "hit" : "—") },
                {
                  label: "Detail",
                  cell: (r) => (
                    <button type="button" onClick={() => setDetail(String(r.call_id || r.request_id))} aria-label={`Detail of request ${String(r.call_id || r.request_id)}`}>
                      Open
                    </button>
                  ),
                },
              ]}
            />
            <Pager page={page} hasNext={!!logs.data.next_cursor} onPage={go} label="Log pages" />
          </>
        )}
      </Section>
      {detail && <Detail id={detail} onClose={() => setDetail(null)} />}
    </>
  );
}

function Detail(p: { id: string; onClose: () => void }) {
  const d = useLoad(() => api.get<Record<string, any>>(`/tollgate/logs/${encodeURIComponent(p.id)}`), [p.id]);
  const r = d.data;
  const rows: [string, string][] = r
    ? [
        ["Call ID", text(r.call_id)],
        ["Response ID", text(r.request_id)],
        ["Call type", text(r.call_type)],
        ["Status", `${text(r.status)} (${text(r.status_code)})`],
        ["Started", when(r.startTime)],
        ["Latency", ms(r.latency_ms)],
        ["Key", `${text(r.key_alias)} (${text(r.api_key)})`],
        ["Team", text(r.team_id)],
        ["User", text(r.user)],
        ["End user", text(r.end_user)],
        ["Model group", text(r.model_group)],
        ["Model", text(r.model)],
        ["Deployment", `${text(r.deployment?.provider)} · ${text(r.deployment?.api_base)} · ${text(r.deployment?.model_id)}`],
        ["Attempts", `${text(r.attempts?.total)} (retries ${text(r.attempts?.retries)}, fallbacks ${text(r.attempts?.fallbacks)})`],
        ["Tokens", `prompt ${count(r.tokens?.prompt)}, completion ${count(r.tokens?.completion)}, total ${count(r.tokens?.total)}, cached ${count(r.tokens?.cached)}${r.usage_estimated ? " (estimated)" : ""}`],
        ["Cost", usd(r.spend, 8)],
        ["Cache hit", r.cache_hit ? "yes" : "no"],
        ["Tags", Array.isArray(r.request_tags) && r.request_tags.length ? r.request_tags.join(", ") : "—"],
      ]
    : [];
  return (
    <Modal title="Request detail" onClose={p.onClose} wide>
      <Loading loading={d.loading} error={d.error} />
      {r && (
        <>
          <dl class="detail">
            {rows.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
          <h3>Metadata</h3>
          <pre class="json">{JSON.stringify(r.metadata ?? {}, null, 2)}</pre>
        </>
      )}
      <div class="actions">
        <button type="button" onClick={p.onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}
