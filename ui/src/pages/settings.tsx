// Settings: the running config, read-only, with secrets redacted by the server
// (GET /tollgate/config). Rendered as text (a <pre>), never as HTML.
import { api } from "../lib/api";
import { when } from "../lib/format";
import { Loading, Section, useLoad } from "../lib/ui";

interface Config {
  path?: string | null;
  loaded_at?: string | null;
  config: unknown;
}

export function SettingsPage() {
  const c = useLoad(() => api.get<Config>("/tollgate/config"), []);
  return (
    <>
      <h1>Settings</h1>
      <Loading loading={c.loading && !c.data} error={c.error} />
      {c.data && (
        <Section title="Running config (read-only)">
          <p>
            {`From ${c.data.path ?? "the embedded default config"}`}
            {c.data.loaded_at ? `, loaded ${when(c.data.loaded_at)}` : ""}
            {". Secrets are redacted; os.environ/NAME references show the variable's name. Change the file and reload to change it."}
          </p>
          <pre class="json" tabIndex={0} aria-label="Running config as JSON">
            {JSON.stringify(c.data.config, null, 2)}
          </pre>
        </Section>
      )}
    </>
  );
}
