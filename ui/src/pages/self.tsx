// A virtual key's own view: its limits, spend against its budget, and its daily usage. The
// server answers only this key's data for a key session, whatever the UI asks.
import { api, type Session } from "../lib/api";
import { count, daysAgo, list, text, usd, when } from "../lib/format";
import { Loading, Section, Stat, useLoad } from "../lib/ui";
import { DailyCharts, type Usage } from "./usage";

type KeyInfo = Record<string, any>;

export function SelfPage(p: { session: Session }) {
  const info = useLoad(() => api.get<{ info: KeyInfo }>("/key/info"), []);
  const start = daysAgo(29);
  const end = daysAgo(0);
  const usage = useLoad(() => api.get<Usage>("/tollgate/usage", { group_by: "day", start_date: start, end_date: end }), []);
  const k = info.data?.info;
  return (
    <>
      <h1>My key {text(k?.key_alias ?? k?.key_name ?? p.session.key?.key_alias ?? p.session.key?.key_name ?? "")}</h1>
      <Loading loading={info.loading && !info.data} error={info.error} />
      {k && (
        <Section title="Limits">
          <div class="stats">
            <Stat label="Spend" value={usd(k.spend)} />
            <Stat label="Budget" value={k.max_budget == null ? "none" : usd(k.max_budget)} />
            <Stat label="Soft budget" value={k.soft_budget == null ? "none" : usd(k.soft_budget)} />
            <Stat label="Budget resets" value={k.budget_duration ? `every ${k.budget_duration}` : "never"} />
            <Stat label="RPM / TPM" value={`${k.rpm_limit == null ? "–" : count(k.rpm_limit)} / ${k.tpm_limit == null ? "–" : count(k.tpm_limit)}`} />
            <Stat label="Parallel" value={k.max_parallel_requests == null ? "–" : count(k.max_parallel_requests)} />
            <Stat label="Models" value={list(k.models)} />
            <Stat label="Expires" value={when(k.expires)} />
            <Stat label="Status" value={k.blocked ? "blocked" : "active"} />
          </div>
        </Section>
      )}
      <Section title="My usage, last 30 days">
        <Loading loading={usage.loading && !usage.data} error={usage.error} />
        {usage.data && <DailyCharts usage={usage.data} hard={k?.max_budget} soft={k?.soft_budget} budgetLabel="my" />}
      </Section>
    </>
  );
}
