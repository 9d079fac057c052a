// Models: every model group and its deployments (provider, api base without secrets, prices,
// rpm/tpm, order, tags) with the router's live state: healthy or cooling down until when,
// in-flight requests, latency and this minute's error rate (GET /tollgate/deployments).
import { api } from "../lib/api";
import { count, ms, text, when } from "../lib/format";
import { Loading, Section, Table, useLoad } from "../lib/ui";

type Dep = Record<string, any>;

const perMillion = (v: unknown) => (v == null || v === "" ? "—" : `$${(Number(v) * 1e6).toFixed(2)}`);

export function ModelsPage() {
  const deps = useLoad(() => api.get<{ data: Dep[] }>("/tollgate/deployments"), []);
  const groups = new Map<string, Dep[]>();
  for (const d of deps.data?.data ?? []) {
    const g = String(d.model_name);
    groups.set(g, [...(groups.get(g) ?? []), d]);
  }
  return (
    <>
      <h1>Models</h1>
      <div class="toolbar">
        <button type="button" onClick={deps.reload}>
          Refresh live state
        </button>
      </div>
      <Loading loading={deps.loading && !deps.data} error={deps.error} />
      {[...groups.entries()].map(([name, list]) => {
        const healthy = list.filter((d) => d.state === "healthy").length;
        return (
          <Section key={name} title={`${name} · ${healthy}/${list.length} healthy`}>
            <Table
              caption={`Deployments of ${name}`}
              rows={list}
              rowKey={(d, i) => String(d.model_id ?? i)}
              columns={[
                { label: "Provider / model", cell: (d) => <span class="nowrap">{`${text(d.provider)} / ${text(d.model)}`}</span> },
                { label: "API base", cell: (d) => <code>{text(d.api_base)}</code> },
                // No order is sent as null (or a huge number: "last").
                { label: "Order", num: true, cell: (d) => (d.order == null || Number(d.order) > 1e12 ? "—" : text(d.order)) },
                { label: "Tags", cell: (d) => (Array.isArray(d.tags) && d.tags.length ? d.tags.join(", ") : "—") },
                { label: "RPM / TPM", cell: (d) => `${d.rpm == null ? "–" : count(d.rpm)} / ${d.tpm == null ? "–" : count(d.tpm)}` },
                { label: "$ in / out per 1M", cell: (d) => `${perMillion(d.input_cost_per_token)} / ${perMillion(d.output_cost_per_token)}` },
                {
                  label: "State",
                  cell: (d) =>
                    d.state === "healthy" ? <span class="badge good">healthy</span> : <span class="badge bad">{`cooling down until ${when(d.cooldown_until)}`}</span>,
                },
                { label: "In flight", num: true, cell: (d) => count(d.inflight) },
                { label: "Latency", num: true, cell: (d) => ms(d.latency_ms) },
                { label: "Req. / fail. this min", num: true, cell: (d) => `${count(d.requests_this_minute)} / ${count(d.failures_this_minute)}` },
                { label: "Error rate", num: true, cell: (d) => (d.error_rate == null ? "—" : `${(Number(d.error_rate) * 100).toFixed(1)}%`) },
              ]}
            />
          </Section>
        );
      })}
    </>
  );
}
