// Sites: the snippet to install, and each site's settings in a form (name,
// origins, time zone, chat, look, privacy, retention, goals, pushed offers),
// and its deletion.
import { useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me, PageOf, Site, Snippet } from "../api";
import { CopyButton } from "../components/copy";
import { Alert, Section, useLoad } from "../ui";

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

export function Sites({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Site>>("GET", "/api/sites?limit=200"), [me.tenant_id]);
  const [name, setName] = useState("");
  const [origins, setOrigins] = useState("");
  const [formError, setFormError] = useState<unknown>();
  const [shown, setShown] = useState<{ site: Site; snippet: Snippet } | null>(null);
  const [editing, setEditing] = useState("");
  const write = may(me, "sites:write");
  const showSnippet = async (site: Site) => {
    try {
      setShown({ site, snippet: await api<Snippet>("GET", "/api/sites/" + site.id + "/snippet") });
    } catch (err) {
      setFormError(err);
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api("POST", "/api/sites", { name, allowed_origins: splitList(origins) });
      setName("");
      setOrigins("");
      setFormError(undefined);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  return (
    <Section title="Sites">
      <Alert error={error} />
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Allowed origins</th>
            <th>Time zone</th>
            <th>Install</th>
            {write && <th>Actions</th>}
          </tr>
        </thead>
        <tbody>
          {page?.items.map((s) => (
            <tr key={s.id}>
              <td>{s.name}</td>
              <td>
                <code>{s.key}</code>
              </td>
              <td>{s.allowed_origins.join(", ") || "none yet"}</td>
              <td>{s.time_zone}</td>
              <td>
                <button class="link" onClick={() => showSnippet(s)}>
                  Snippet
                </button>
              </td>
              {write && (
                <td>
                  <button class="link" onClick={() => setEditing(s.id)}>
                    Settings
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {shown && (
        <div class="snippet" aria-label="Snippet">
          <h3>Install {shown.site.name}</h3>
          <p>Paste this into every page, just before <code>&lt;/head&gt;</code>. Pages must be served from an allowed origin.</p>
          <pre id="snippet-code">{shown.snippet.snippet}</pre>
          <CopyButton text={shown.snippet.snippet} label="Copy the snippet" />
          <p>A site with a Content-Security-Policy also needs, with its own nonce on the snippet's tag:</p>
          <pre id="snippet-csp">{shown.snippet.csp}</pre>
        </div>
      )}
      {write && editing && page?.items.find((x) => x.id === editing) && (
        <SiteForm key={editing} site={page.items.find((x) => x.id === editing)!} onDone={() => (setEditing(""), reload())} />
      )}
      {write && !editing && (
        <form onSubmit={create} aria-label="New site">
          <h3>New site</h3>
          <label for="site-name">Name</label>
          <input id="site-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          <label for="site-origins">Allowed origins (comma-separated, e.g. https://shop.example.com)</label>
          <input id="site-origins" value={origins} onInput={(e) => setOrigins(e.currentTarget.value)} />
          <Alert error={formError} />
          <button type="submit">Create site</button>
        </form>
      )}
    </Section>
  );
}


type Goal = NonNullable<Site["settings"]["goals"]>[number];

function SiteForm({ site, onDone }: { site: Site; onDone: () => void }) {
  const [name, setName] = useState(site.name);
  const [origins, setOrigins] = useState(site.allowed_origins.join(", "));
  const [zone, setZone] = useState(site.time_zone);
  const [theme, setTheme] = useState(site.theme);
  const [settings, setSettings] = useState(site.settings);
  const [goals, setGoals] = useState(
    (site.settings.goals ?? [])
      .map((g: Goal) => (g.event ? "event:" + g.event : g.page ?? ""))
      .join("\n"),
  );
  const [error, setError] = useState<unknown>();
  const set = (p: Partial<Site["settings"]>) => setSettings({ ...settings, ...p });
  const save = async (e: Event) => {
    e.preventDefault();
    const gs: Goal[] = goals
      .split("\n")
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => (x.startsWith("event:") ? { event: x.slice(6).trim() } : { page: x }));
    try {
      await api("PATCH", "/api/sites/" + site.id, { name, allowed_origins: splitList(origins), time_zone: zone, theme, settings: { ...settings, goals: gs } });
      setError(undefined);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async () => {
    if (!confirm("Delete " + site.name + "? Its pages stop being measured and offered chats, and its analytics and conversations are deleted.")) return;
    try {
      await api("DELETE", "/api/sites/" + site.id);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const check = (key: keyof Site["settings"], label: string) => (
    <label class="inline">
      <input type="checkbox" checked={!!settings[key]} onChange={(e) => set({ [key]: e.currentTarget.checked })} /> {label}
    </label>
  );
  return (
    <form onSubmit={save} aria-label={"Settings of " + site.name} class="wide">
      <h3>Settings of {site.name}</h3>
      <label for="site-edit-name">Name</label>
      <input id="site-edit-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      <label for="site-edit-origins">Allowed origins (comma-separated; https://*.example.com for subdomains)</label>
      <input id="site-edit-origins" value={origins} onInput={(e) => setOrigins(e.currentTarget.value)} />
      <label for="site-edit-zone">Time zone (reports, schedules)</label>
      <input id="site-edit-zone" list="site-zones" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
      <datalist id="site-zones">
        {(Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone").map((z) => <option value={z} />)}
      </datalist>
      <fieldset>
        <legend>Chat</legend>
        {check("chat", "Show the chat launcher on the site's pages")}
        <div class="row">
          <label>
            Colour <input type="color" value={theme.color ?? "#2563eb"} onInput={(e) => setTheme({ ...theme, color: e.currentTarget.value })} />
          </label>
          <label>
            Corner{" "}
            <select value={theme.position ?? "right"} onChange={(e) => setTheme({ ...theme, position: e.currentTarget.value as "right" })}>
              <option value="right">bottom right</option>
              <option value="left">bottom left</option>
            </select>
          </label>
        </div>
        {check("push_offers", "The site's backend pushes offers to open pages (pages then poll every few seconds)")}
      </fieldset>
      <fieldset>
        <legend>Privacy</legend>
        {check("respect_dnt", "Do not measure browsers that send Do Not Track or Global Privacy Control")}
        {check("consent_required", "Store and send nothing until the page calls nudge('consent', true)")}
        {check("cookieless", "Keep no visitor id in the browser")}
        <label for="site-edit-retention">Keep raw events for (days; 0: keep)</label>
        <input id="site-edit-retention" type="number" class="short" min={0} max={3650} value={settings.retention_days ?? 0} onInput={(e) => set({ retention_days: Number(e.currentTarget.value) })} />
      </fieldset>
      <fieldset>
        <legend>Goals</legend>
        <label for="site-edit-goals">One a line: a page's path (/checkout/done), or event:NAME for a custom event</label>
        <textarea id="site-edit-goals" value={goals} onInput={(e) => setGoals(e.currentTarget.value)} />
      </fieldset>
      <Alert error={error} />
      <div class="row">
        <button type="submit">Save the site</button>
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="button" class="link danger" onClick={remove}>
          Delete the site
        </button>
      </div>
    </form>
  );
}
