// Sites: the snippet to install, and each site's settings in a form (name,
// origins, time zone, chat, look, privacy, retention, goals, pushed offers),
// and its deletion.
import { useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me, PageOf, Site, Snippet } from "../api";
import { CopyButton } from "../components/copy";
import { confirm } from "../components/dialog";
import { Field, otherThan, useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad } from "../ui";

function splitList(s: string, sep = ","): string[] {
  return s
    .split(sep)
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

const splitLines = (s: string) => splitList(s, "\n");

export function Sites({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Site>>("GET", "/api/sites?limit=200"), [me.tenant_id]);
  const [name, setName] = useState("");
  const [origins, setOrigins] = useState("");
  const [shown, setShown] = useState<{ site: Site; snippet: Snippet } | null>(null);
  const [editing, setEditing] = useState("");
  const write = may(me, "sites:write");
  const act = useAction(reload);
  const showSnippet = (site: Site) => act.run(async () => setShown({ site, snippet: await api<Snippet>("GET", "/api/sites/" + site.id + "/snippet") }));
  const create = async (e: Event) => {
    e.preventDefault();
    if (await act.run(() => api("POST", "/api/sites", { name, allowed_origins: splitList(origins) }))) {
      setName("");
      setOrigins("");
    }
  };
  const edited = write && editing ? page?.items.find((x) => x.id === editing) : undefined;
  return (
    <Section title="Sites">
      <Table
        label="Sites"
        rows={page?.items}
        error={error}
        retry={reload}
        rowKey={(s) => s.id}
        empty={write ? "No sites yet. Create one below, then paste its snippet into your pages." : "No sites yet."}
        columns={[
          { title: "Name", cell: (s) => s.name },
          { title: "Key", cell: (s) => <code>{s.key}</code> },
          { title: "Allowed origins", cell: (s) => s.allowed_origins.join(", ") || "none yet" },
          { title: "Time zone", cell: (s) => s.time_zone },
          {
            title: "Install",
            cell: (s) => (
              <button class="link" onClick={() => showSnippet(s)} aria-label={"Snippet of " + s.name}>
                Snippet
              </button>
            ),
          },
          write && {
            title: "Actions",
            cell: (s) => (
              <button class="link" onClick={() => setEditing(s.id)} aria-label={"Settings of " + s.name}>
                Settings
              </button>
            ),
          },
        ]}
      />
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
      {edited && <SiteForm key={editing} site={edited} onDone={() => (setEditing(""), reload())} />}
      {edited && (may(me, "sites:secret") || may(me, "visitors:erase")) && <SitePrivacy key={"p" + editing} me={me} site={edited} />}
      {write && !editing && (
        <form onSubmit={create} aria-label="New site">
          <h3>New site</h3>
          <Field id="site-name" label="Name" name="name" error={act.error}>
            <input id="site-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </Field>
          <Field id="site-origins" label="Allowed origins" hint="Comma-separated, e.g. https://shop.example.com" name="allowed_origins" error={act.error}>
            <input id="site-origins" value={origins} onInput={(e) => setOrigins(e.currentTarget.value)} />
          </Field>
          <Alert error={otherThan(act.error, "name", "allowed_origins")} />
          <button type="submit" disabled={act.busy}>
            Create site
          </button>
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
  const [patterns, setPatterns] = useState((site.settings.page_patterns ?? []).join("\n"));
  const act = useAction(onDone);
  const set = (p: Partial<Site["settings"]>) => setSettings({ ...settings, ...p });
  const save = (e: Event) => {
    e.preventDefault();
    const gs: Goal[] = splitLines(goals).map((x) => (x.startsWith("event:") ? { event: x.slice(6).trim() } : { page: x }));
    act.run(() => api("PATCH", "/api/sites/" + site.id, { name, allowed_origins: splitList(origins), time_zone: zone, theme, settings: { ...settings, goals: gs, page_patterns: splitLines(patterns) } }));
  };
  const remove = async () => {
    if (await confirm("Delete " + site.name + "?", "Its pages stop being measured and offered chats, and its analytics and conversations are deleted.", "Delete the site"))
      act.run(() => api("DELETE", "/api/sites/" + site.id));
  };
  const check = (key: keyof Site["settings"], label: string) => (
    <label class="inline">
      <input type="checkbox" checked={!!settings[key]} onChange={(e) => set({ [key]: e.currentTarget.checked })} /> {label}
    </label>
  );
  return (
    <form onSubmit={save} aria-label={"Settings of " + site.name} class="wide">
      <h3>Settings of {site.name}</h3>
      <Field id="site-edit-name" label="Name" name="name" error={act.error}>
        <input id="site-edit-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </Field>
      <Field id="site-edit-origins" label="Allowed origins" hint="Comma-separated; https://*.example.com for subdomains" name="allowed_origins" error={act.error}>
        <input id="site-edit-origins" value={origins} onInput={(e) => setOrigins(e.currentTarget.value)} />
      </Field>
      <Field id="site-edit-zone" label="Time zone (reports, schedules)" name="time_zone" error={act.error}>
        <input id="site-edit-zone" list="site-zones" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
      </Field>
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
        <div class="row">
          <label>
            From the side (px){" "}
            <input type="number" class="short" min={0} max={400} value={theme.offset_x ?? 0} onInput={(e) => setTheme({ ...theme, offset_x: Number(e.currentTarget.value) })} />
          </label>
          <label>
            From the bottom (px){" "}
            <input type="number" class="short" min={0} max={400} value={theme.offset_y ?? 0} onInput={(e) => setTheme({ ...theme, offset_y: Number(e.currentTarget.value) })} />
          </label>
        </div>
        <label class="inline">
          <input type="checkbox" checked={!!theme.sound} onChange={(e) => setTheme({ ...theme, sound: e.currentTarget.checked })} /> A chime when a reply arrives while the chat is closed
        </label>
        {check("push_offers", "The site's backend pushes offers to open pages (pages then poll every few seconds)")}
        {check("secured_chat", "Chat only for signed-in customers: the page gives a visitor token with nudge('token', jwt), signed by your server with the identity secret")}
      </fieldset>
      <fieldset>
        <legend>Privacy</legend>
        {check("respect_dnt", "Do not measure browsers that send Do Not Track or Global Privacy Control")}
        {check("consent_required", "Store and send nothing until the page calls nudge('consent', true)")}
        {check("cookieless", "Keep no visitor id in the browser")}
        <label for="site-edit-retention">Keep raw events for (days; 0: keep)</label>
        <input id="site-edit-retention" type="number" class="short" min={0} max={3650} value={settings.retention_days ?? 0} onInput={(e) => set({ retention_days: Number(e.currentTarget.value) })} />
        <label for="site-edit-budget">Store at most this many events a day (0: 200,000); past it they are counted, not stored</label>
        <input id="site-edit-budget" type="number" class="short" min={0} max={100000000} value={settings.events_per_day ?? 0} onInput={(e) => set({ events_per_day: Number(e.currentTarget.value) })} />
        <label for="site-edit-event-bytes">Drop an event longer than (bytes of path, title, name and properties; 0: 4,096)</label>
        <input id="site-edit-event-bytes" type="number" class="short" min={0} max={16384} value={settings.max_event_bytes ?? 0} onInput={(e) => set({ max_event_bytes: Number(e.currentTarget.value) })} />
      </fieldset>
      <fieldset>
        <legend>Pages in reports</legend>
        {check("keep_path_ids", "Keep ids in paths (by default /orders/83412 is stored and reported as /orders/:id)")}
        <label for="site-edit-patterns">Patterns, one a line: /products/:slug reports every product page as one, /docs/* everything under /docs/</label>
        <textarea id="site-edit-patterns" value={patterns} onInput={(e) => setPatterns(e.currentTarget.value)} />
      </fieldset>
      <fieldset>
        <legend>Goals</legend>
        <label for="site-edit-goals">One a line: a page's path (/checkout/done), or event:NAME for a custom event</label>
        <textarea id="site-edit-goals" value={goals} onInput={(e) => setGoals(e.currentTarget.value)} />
      </fieldset>
      <Alert error={otherThan(act.error, "name", "allowed_origins", "time_zone")} />
      <div class="row">
        <button type="submit" disabled={act.busy}>
          Save the site
        </button>
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

// SitePrivacy is what owners and admins do about a site's visitors: the
// identity secret the site's server signs nudge('identify') with (shown on
// request, rotated with a confirmation), and erasing one visitor's data.
function SitePrivacy({ me, site }: { me: Me; site: Site }) {
  const [secret, setSecret] = useState("");
  const [who, setWho] = useState("");
  const [done, setDone] = useState("");
  const act = useAction();
  const show = () => act.run(async () => setSecret((await api<{ identity_secret: string }>("GET", "/api/sites/" + site.id + "/secret")).identity_secret));
  const rotate = async () => {
    if (
      await confirm(
        "Make a new identity secret for " + site.name + "?",
        "Your site's server must sign identities with the new secret from now on: identities signed with the old one are no longer believed.",
        "Make a new secret",
      )
    )
      act.run(async () => setSecret((await api<{ identity_secret: string }>("POST", "/api/sites/" + site.id + "/secret")).identity_secret));
  };
  const erase = async (e: Event) => {
    e.preventDefault();
    const id = who.trim();
    if (!id) return;
    if (
      await confirm(
        "Erase everything of visitor " + id + "?",
        "Their analytics events and their chats (messages, files, the search index) are deleted from " + site.name + ". This cannot be undone.",
        "Erase the visitor",
      )
    ) {
      setDone("");
      if (await act.run(() => api("DELETE", "/api/sites/" + site.id + "/visitors/" + encodeURIComponent(id)))) {
        setDone("Erased: nothing of " + id + " is left on " + site.name + ".");
        setWho("");
      }
    }
  };
  return (
    <section aria-label="Visitors' identity and erasure" class="wide">
      <h3>Visitors of {site.name}</h3>
      {may(me, "sites:secret") && (
        <fieldset>
          <legend>Identity secret</legend>
          <p class="muted">Your site's server signs a visitor's id with it (HMAC-SHA256, in hex) for nudge('identify', …, hash): agents then see the identity as verified.</p>
          {secret ? (
            <div class="row">
              <input aria-label="Identity secret" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
              <CopyButton text={secret} label="Copy the secret" />
            </div>
          ) : (
            <button type="button" class="secondary" onClick={show}>
              Show the secret
            </button>
          )}
          <button type="button" class="link danger" onClick={rotate}>
            Make a new secret
          </button>
        </fieldset>
      )}
      {may(me, "visitors:erase") && (
        <form onSubmit={erase} aria-label="Erase a visitor">
          <label for="erase-visitor">Erase a visitor: their visitor id, or the user id your site identifies them with</label>
          <div class="row">
            <input id="erase-visitor" value={who} maxLength={128} onInput={(e) => setWho(e.currentTarget.value)} />
            <button type="submit" class="danger" disabled={act.busy || !who.trim()}>
              Erase
            </button>
          </div>
        </form>
      )}
      <Alert error={act.error} />
      {done && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
    </section>
  );
}
