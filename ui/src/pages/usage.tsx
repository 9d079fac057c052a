// Usage: spend, requests and tokens per day for the whole proxy or one key, team, user, model
// group or tag; the top keys / teams / users / model groups / tags of the period; the cumulative
// spend against the soft and hard budget of the key, team or user filtered on; CSV export.
// Reads only the pre-aggregated daily tables (GET /tollgate/usage), never the spend logs.
import { useEffect, useState } from "preact/hooks";
import { api, withQuery } from "../lib/api";
import { Bars, Cumulative, fillDays } from "../lib/chart";
import { count, daysAgo, usd } from "../lib/format";
import { setQuery, useLocation } from "../lib/router";
import { Field, Loading, Section, Select, Stat, Table, useLoad, type Submit } from "../lib/ui";

export interface UsageRow {
  group: string;
  label?: string | null;
  spend: number;
  requests: number;
  successes: number;
  failures: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens?: number;
  cache_hits?: number;
}

export interface Usage {
  group_by: string;
  start_date: string;
  end_date: string;
  rows: UsageRow[];
  totals: Omit<UsageRow, "group" | "label">;
}

const GROUPS: [string, string][] = [
  ["key", "Keys"],
  ["team", "Teams"],
  ["user", "Users"],
  ["model_group", "Model groups"],
  ["tag", "Tags"],
];
const FILTERS = ["api_key", "team_id", "user_id", "model_group", "tag"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const FILTER_OF: Record<string, (typeof FILTERS)[number]> = { key: "api_key", team: "team_id", user: "user_id", model_group: "model_group", tag: "tag" };
const money = (v: number) => usd(v, 4);
const num = (v: number) => (Number.isInteger(v) ? count(v) : v.toFixed(1));

/// The three daily charts (and the cumulative one with budget lines) for one usage answer.
export function DailyCharts(p: { usage: Usage; soft?: number | null; hard?: number | null; budgetLabel?: string }) {
  const u = p.usage;
  const series = (f: (r: UsageRow) => number) => fillDays(u.start_date, u.end_date, u.rows.map((r) => ({ group: r.group, value: f(r) })));
  const spend = series((r) => r.spend);
  return (
    <>
      <div class="stats">
        <Stat label="Spend" value={money(u.totals.spend)} />
        <Stat label="Requests" value={count(u.totals.requests)} />
        <Stat label="Failed" value={count(u.totals.failures)} />
        <Stat label="Tokens" value={count(u.totals.total_tokens)} />
        <Stat label="Cache hits" value={count(u.totals.cache_hits ?? 0)} />
      </div>
      <div class="charts">
        <Bars title="Spend per day (USD)" points={spend} fmt={money} />
        <Bars title="Requests per day" points={series((r) => r.requests)} fmt={num} />
        <Bars title="Tokens per day" points={series((r) => r.total_tokens)} fmt={num} />
        {(p.soft != null || p.hard != null) && <Cumulative title={`Spend in the period against ${p.budgetLabel ?? "the"} budget`} points={spend} fmt={money} soft={p.soft} hard={p.hard} />}
      </div>
    </>
  );
}

interface Limits {
  max_budget?: number | null;
  soft_budget?: number | null;
}

/// The budget of the key, team or user filtered on (for the budget lines).
async function budgetOf(f: Filters): Promise<{ limits: Limits; label: string } | null> {
  if (f.api_key) {
    const r = await api.get<{ info: Limits }>("/key/info", { key: f.api_key });
    return { limits: r.info, label: "the key's" };
  }
  if (f.team_id) {
    const r = await api.get<{ team_info: Limits }>("/team/info", { team_id: f.team_id });
    return { limits: r.team_info, label: "the team's" };
  }
  if (f.user_id) {
    const r = await api.get<{ user_info: Limits }>("/user/info", { user_id: f.user_id });
    return { limits: r.user_info, label: "the user's" };
  }
  return null;
}

export function UsagePage() {
  const { query } = useLocation();
  const start = query.get("start_date") || daysAgo(29);
  const end = query.get("end_date") || daysAgo(0);
  const groupBy = query.get("group_by") || "key";
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ""])) as Filters;
  const [draft, setDraft] = useState({ start, end, ...filters });
  // The form follows the URL (drill-down, presets, back button).
  useEffect(() => setDraft({ start, end, ...filters }), [query.toString()]);
  const params = { start_date: start, end_date: end, ...filters };
  const key = JSON.stringify(params);
  const daily = useLoad(() => api.get<Usage>("/tollgate/usage", { ...params, group_by: "day" }), [key]);
  const top = useLoad(() => api.get<Usage>("/tollgate/usage", { ...params, group_by: groupBy, limit: 10 }), [key, groupBy]);
  const budget = useLoad(() => budgetOf(filters).catch(() => null), [filters.api_key, filters.team_id, filters.user_id]);
  const apply = (e: Submit) => {
    e.preventDefault();
    setQuery({ group_by: groupBy, start_date: draft.start, end_date: draft.end, ...Object.fromEntries(FILTERS.map((f) => [f, draft[f]])) });
  };
  const preset = (days: number) => setQuery({ group_by: groupBy, ...filters, start_date: daysAgo(days - 1), end_date: daysAgo(0) });
  const drill = (group: string) => setQuery({ ...params, group_by: groupBy === "model_group" ? "key" : "model_group", [FILTER_OF[groupBy]]: group });
  const csv = (by: string) => withQuery("/tollgate/usage", { ...params, group_by: by, format: "csv", limit: 1000 });
  const active = FILTERS.filter((f) => filters[f]);
  const shown = (f: (typeof FILTERS)[number]) => `${f} ${filters[f].length > 20 ? filters[f].slice(0, 12) + "…" : filters[f]}`;
  return (
    <>
      <h1>Usage</h1>
      <Section title="Period and filters">
        <form class="filters" onSubmit={apply} aria-label="Usage filters">
          <Field label="From" type="date" value={draft.start} onInput={(v) => setDraft({ ...draft, start: v })} />
          <Field label="To" type="date" value={draft.end} onInput={(v) => setDraft({ ...draft, end: v })} />
          <Field label="Key (sk-… or hash)" value={draft.api_key} onInput={(v) => setDraft({ ...draft, api_key: v })} />
          <Field label="Team ID" value={draft.team_id} onInput={(v) => setDraft({ ...draft, team_id: v })} />
          <Field label="User ID" value={draft.user_id} onInput={(v) => setDraft({ ...draft, user_id: v })} />
          <Field label="Model group" value={draft.model_group} onInput={(v) => setDraft({ ...draft, model_group: v })} />
          <Field label="Tag" value={draft.tag} onInput={(v) => setDraft({ ...draft, tag: v })} />
          <div class="field end">
            <button type="submit" class="primary">
              Show
            </button>
          </div>
        </form>
        <div class="presets" role="group" aria-label="Quick periods">
          {[7, 30, 90].map((d) => (
            <button type="button" key={d} onClick={() => preset(d)}>
              Last {d} days
            </button>
          ))}
          {active.length > 0 && (
            <button type="button" onClick={() => setQuery({ group_by: groupBy, start_date: start, end_date: end })}>
              Clear filters ({active.map(shown).join(", ")})
            </button>
          )}
        </div>
      </Section>
      <Section
        title={active.length ? `Daily usage (${active.map(shown).join(", ")})` : "Daily usage, whole proxy"}
        actions={
          <a class="button" href={csv("day")} download={`usage-daily-${start}-${end}.csv`}>
            Export CSV
          </a>
        }
      >
        <Loading loading={daily.loading && !daily.data} error={daily.error} />
        {daily.data && <DailyCharts usage={daily.data} soft={budget.data?.limits.soft_budget} hard={budget.data?.limits.max_budget} budgetLabel={budget.data?.label} />}
      </Section>
      <Section
        title="Top of the period"
        actions={
          <>
            <Select label="Group by" value={groupBy} options={GROUPS} onChange={(v) => setQuery({ ...params, group_by: v })} />
            <a class="button" href={csv(groupBy)} download={`usage-${groupBy}-${start}-${end}.csv`}>
              Export CSV
            </a>
          </>
        }
      >
        <Loading loading={top.loading && !top.data} error={top.error} />
        {top.data && (
          <Table
            caption={`Top ${groupBy}`}
            rows={top.data.rows}
            rowKey={(r) => r.group}
            empty="No requests in this period."
            columns={[
              {
                label: GROUPS.find((g) => g[0] === groupBy)?.[1] ?? groupBy,
                cell: (r) => (
                  <button type="button" class="link" onClick={() => drill(r.group)} title="Show only this one">
                    {r.label ? `${r.label} (${r.group.slice(0, 16)})` : r.group || "(none)"}
                  </button>
                ),
              },
              { label: "Spend", num: true, cell: (r) => money(r.spend) },
              { label: "Requests", num: true, cell: (r) => count(r.requests) },
              { label: "Failed", num: true, cell: (r) => count(r.failures) },
              { label: "Prompt tokens", num: true, cell: (r) => count(r.prompt_tokens) },
              { label: "Completion tokens", num: true, cell: (r) => count(r.completion_tokens) },
              { label: "Cache hits", num: true, cell: (r) => count(r.cache_hits ?? 0) },
            ]}
          />
        )}
      </Section>
    </>
  );
}
