// Proactive offers for marketers: a site's rules with their status and last
// week's funnel, the rule editor (a condition builder, or JSON for experts),
// previews against facts or a recent visit, publish, history and rollback,
// the lift against control, and the templates with a live preview drawn by
// the guide module's own code (/offer-preview).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, may } from "../api";
import type { Me, Site } from "../api";
import type { OffersReport, OfferVariant, Preview, RecentVisit, Rule, RuleCatalogue, RuleVersion, RuleView, Template, TemplateView } from "../api.gen";
import { ConditionEditor } from "../components/condition";
import { confirm } from "../components/dialog";
import { Table } from "../components/table";
import type { Node } from "../components/condition";
import { DateRange, lastDays } from "../components/range";
import type { Range } from "../components/range";
import { Alert, Section, useLoad, when } from "../ui";

const newRule = (): Rule => ({
  name: "New offer",
  priority: 0,
  when: { all: [{ fact: "page.seconds", op: "gte", value: 20 }] },
  action: { type: "chat_offer", queue: "", text: "Can we help? Chat with us." },
  limits: { per_visit: 1, per_visitor_days: 7, cooldown_days_after_decline: 14 },
});

const pct = (v: number) => (v >= 0 ? "+" : "") + v.toFixed(1) + " %";

export function Offers({ me }: { me: Me }) {
  const [sites] = useLoad(() => api<{ items: Site[] }>("GET", "/api/sites?limit=200"), [me.tenant_id]);
  const [siteId, setSiteId] = useState("");
  const site = sites?.items.find((s) => s.id === siteId) ?? sites?.items[0];
  const [editing, setEditing] = useState<RuleView | "new" | null>(null);
  // The editor keeps its state across saves (a new rule gets its id): it is
  // mounted afresh only when opened from the list.
  const [opened, setOpened] = useState(0);
  const open = (v: RuleView | "new" | null) => (setEditing(v), setOpened(opened + 1));
  const [template, setTemplate] = useState<TemplateView | "new" | null>(null);
  const [cat] = useLoad(() => api<RuleCatalogue>("GET", "/api/rules/catalogue"), [me.tenant_id]);
  if (sites && sites.items.length === 0) return <Section title="Offers"><p class="empty">Create a site first: offers are made on a site's pages.</p></Section>;
  if (!site || !cat) return <p class="loading">Loading…</p>;
  const base = "/api/sites/" + site.id;
  return (
    <Section title="Offers">
      {sites!.items.length > 1 && (
        <label class="inline">
          Site{" "}
          <select aria-label="Site" value={site.id} onChange={(e) => (setSiteId(e.currentTarget.value), open(null), setTemplate(null))}>
            {sites!.items.map((s) => (
              <option value={s.id}>{s.name}</option>
            ))}
          </select>
        </label>
      )}
      {editing ? (
        <RuleEditor key={opened} me={me} site={site} base={base} cat={cat} view={editing === "new" ? null : editing} onClose={() => open(null)} onSaved={(v) => setEditing(v)} />
      ) : template ? (
        <TemplateEditor key={template === "new" ? "new" : template.id} site={site} base={base} view={template === "new" ? null : template} onClose={() => setTemplate(null)} />
      ) : (
        <RuleList me={me} base={base} onEdit={open} onTemplate={setTemplate} />
      )}
    </Section>
  );
}

function RuleList({ me, base, onEdit, onTemplate }: { me: Me; base: string; onEdit: (v: RuleView | "new") => void; onTemplate: (t: TemplateView | "new") => void }) {
  const week = lastDays(7);
  const [rules, error, reload] = useLoad(() => api<{ items: RuleView[] }>("GET", base + "/rules"), [base]);
  const [funnel] = useLoad(() => api<OffersReport>("GET", base + "/reports/offers?from=" + week.from + "&to=" + week.to), [base]);
  const [templates, templatesError, reloadTemplates] = useLoad(() => api<{ items: TemplateView[] }>("GET", base + "/templates"), [base]);
  const byRule = new Map((funnel?.items ?? []).map((f) => [f.rule, f]));
  const write = may(me, "rules:write");
  return (
    <>
      <div class="row spread">
        <h3>Rules</h3>
        {write && <button onClick={() => onEdit("new")}>New rule</button>}
      </div>
      <Table
        label="Rules"
        rows={rules?.items}
        error={error}
        retry={reload}
        rowKey={(r) => r.id}
        empty="No rules yet. A rule decides when a visitor is offered a chat or content."
        columns={[
          {
            title: "Rule",
            cell: (r) => (
              <button class="link" onClick={() => onEdit(r)}>
                {r.draft.name}
              </button>
            ),
          },
          { title: "Status", cell: (r) => <span class={"badge " + r.status}>{r.status}</span> },
          { title: "Priority", cell: (r) => r.draft.priority ?? 0, numeric: true },
          { title: "Shown (7 days)", cell: (r) => byRule.get(r.id)?.variants.offer?.shown ?? 0, numeric: true },
          {
            title: "Accepted",
            numeric: true,
            cell: (r) => {
              const o = byRule.get(r.id)?.variants.offer;
              return o ? o.accepted + (o.shown ? " (" + Math.round((100 * o.accepted) / o.shown) + " %)" : "") : 0;
            },
          },
          {
            title: "Conversion",
            numeric: true,
            cell: (r) => {
              const o = byRule.get(r.id)?.variants.offer;
              return o ? o.conversion_rate.toFixed(1) + " %" : "—";
            },
          },
          {
            title: "Lift vs control",
            cell: (r) => {
              const f = byRule.get(r.id);
              return f?.lift ? pct(f.lift.relative) + " (" + pct(f.lift.relative_low) + " to " + pct(f.lift.relative_high) + ")" : "—";
            },
          },
        ]}
      />
      <div class="row spread">
        <h3>Templates</h3>
        {write && (
          <button class="secondary" onClick={() => onTemplate("new")}>
            New template
          </button>
        )}
      </div>
      <Table
        label="Templates"
        rows={templates?.items}
        error={templatesError}
        retry={reloadTemplates}
        rowKey={(t) => t.id}
        empty="No templates. A content offer or an entry point shows a template."
        columns={[
          {
            title: "Template",
            cell: (t) => (
              <button class="link" onClick={() => onTemplate(t)}>
                {t.body.name}
              </button>
            ),
          },
          { title: "Title", cell: (t) => t.body.title },
          { title: "Changed", cell: (t) => when(t.updated_at) },
        ]}
      />
    </>
  );
}

// OfferLook frames /offer-preview: the guide module draws the offer.
function OfferLook({ site, action, template }: { site: Site; action: Rule["action"]; template?: Template }) {
  const spec = encodeURIComponent(JSON.stringify({ action, template, theme: site.theme }));
  const [src, setSrc] = useState(spec);
  useEffect(() => {
    const t = setTimeout(() => setSrc(spec), 300);
    return () => clearTimeout(t);
  }, [spec]);
  return <iframe key={src} class="offer-look" title="How the offer looks on the page" src={"/offer-preview#" + src} />;
}

function RuleEditor(props: { me: Me; site: Site; base: string; cat: RuleCatalogue; view: RuleView | null; onClose: () => void; onSaved: (v: RuleView) => void }) {
  const { base, view } = props;
  const [rule, setRule] = useState<Rule>(view?.draft ?? newRule());
  const [json, setJson] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  // errs are the server's objections, each shown beside its field (by JSON path).
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState("");
  const [queues, queuesError] = useLoad(() => api<{ items: { id: string; name: string }[] }>("GET", "/api/queues"), []);
  const [templates] = useLoad(() => api<{ items: TemplateView[] }>("GET", base + "/templates"), [base]);
  const write = may(props.me, "rules:write");
  // A save or a rollback gives the draft as stored.
  useEffect(() => {
    if (view) setRule(view.draft);
  }, [view?.id, view?.updated_at]);
  const set = (patch: Partial<Rule>) => setRule({ ...rule, ...patch });
  const act = (patch: Partial<Rule["action"]>) => set({ action: { ...rule.action, ...patch } });
  const run = async (what: string, f: () => Promise<RuleView | void>) => {
    try {
      const v = await f();
      setError(undefined);
      setErrs({});
      setNotice(what);
      if (v) props.onSaved(v);
    } catch (e) {
      setNotice("");
      const found = ruleErrors(e);
      setErrs(found);
      const n = Object.keys(found).length;
      setError(n > 0 ? new Error("The rule was not saved: " + (n === 1 ? "one thing needs" : n + " things need") + " fixing, marked beside " + (n === 1 ? "its field." : "their fields.")) : e);
    }
  };
  // The JSON view round-trips: leaving it parses the text back into the builder.
  const toBuilder = () => {
    try {
      setRule(JSON.parse(json ?? "{}"));
      setJson(null);
      setError(undefined);
      setErrs({});
    } catch (e) {
      setError(new Error("The JSON does not parse: " + (e as Error).message));
    }
  };
  const save = () => run("Saved as a draft.", () => (view ? api<RuleView>("PUT", base + "/rules/" + view.id, rule) : api<RuleView>("POST", base + "/rules", rule)));
  const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const sched = rule.schedule ?? {};
  const a = rule.action;
  return (
    <div class="editor" aria-label="Rule editor">
      <div class="row spread">
        <h3>
          {view ? rule.name : "New rule"} {view && <span class={"badge " + view.status}>{view.status}</span>}
        </h3>
        <button class="link" onClick={props.onClose}>
          Back to the rules
        </button>
      </div>
      {!write && <Alert error={error} />}
      <div class="split">
      <div>
      <div class="tabs" role="tablist" aria-label="Editor view">
        <button role="tab" aria-selected={json === null} class={json === null ? "" : "secondary"} onClick={() => json !== null && toBuilder()}>
          Builder
        </button>
        <button role="tab" aria-selected={json !== null} class={json !== null ? "" : "secondary"} onClick={() => json === null && setJson(JSON.stringify(rule, null, 2))}>
          JSON
        </button>
      </div>
      {json !== null ? (
        <textarea class="json" aria-label="Rule as JSON" spellcheck={false} value={json} onInput={(e) => setJson(e.currentTarget.value)} />
      ) : (
        <div class="rule-form">
          <fieldset>
            <legend>Rule</legend>
            <label for="rule-name">Name (agents and reports see it)</label>
            <input id="rule-name" value={rule.name} onInput={(e) => set({ name: e.currentTarget.value })} />
            <FieldErr msg={errs["name"]} />
            <label for="rule-priority">Priority (higher first)</label>
            <input id="rule-priority" type="number" class="short" value={rule.priority ?? 0} onInput={(e) => set({ priority: Number(e.currentTarget.value) })} />
            <FieldErr msg={errs["priority"]} />
          </fieldset>
          <fieldset>
            <legend>When</legend>
            <ConditionEditor node={rule.when as Node} cat={props.cat} depth={0} path="when" errs={errs} onChange={(n) => set({ when: n })} />
          </fieldset>
          <fieldset>
            <legend>Offer</legend>
            <label for="rule-type">Type</label>
            <select
              id="rule-type"
              value={a.type ?? "chat_offer"}
              onChange={(e) => {
                const type = e.currentTarget.value as "chat_offer";
                // What the new type shares with the old is kept: a chat offer's queue and words.
                set({ action: type === "chat_offer" ? { type, queue: a.queue ?? "", text: a.text ?? "Can we help? Chat with us." } : { type } });
              }}
            >
              <option value="chat_offer">Chat offer</option>
              <option value="content_offer">Content (a template)</option>
              <option value="entry_point">Entry point (a tab on the page's edge)</option>
            </select>
            <FieldErr msg={errs["action"] ?? errs["action.type"]} />
            {(a.type ?? "chat_offer") === "chat_offer" && (
              <>
                <label for="rule-queue">Queue (who answers the chats this offer starts)</label>
                <select id="rule-queue" value={a.queue ?? ""} onChange={(e) => act({ queue: e.currentTarget.value })}>
                  <option value="" disabled>
                    {queues ? (queues.items.length ? "(choose a queue)" : "(no queue yet: an admin creates one in Chat setup)") : "(loading the queues…)"}
                  </option>
                  {queues?.items.map((q) => (
                    <option value={q.name}>{q.name}</option>
                  ))}
                  {a.queue && queues && !queues.items.some((q) => q.name === a.queue) && <option value={a.queue}>{a.queue} (no such queue now)</option>}
                </select>
                {queuesError ? <FieldErr msg="The queues could not be loaded; reload the page to choose one." /> : <FieldErr msg={errs["action.queue"]} />}
                <label for="rule-title">Title</label>
                <input id="rule-title" value={a.title ?? ""} onInput={(e) => act({ title: e.currentTarget.value })} />
                <FieldErr msg={errs["action.title"]} />
                <label for="rule-text">Text</label>
                <textarea id="rule-text" value={a.text ?? ""} onInput={(e) => act({ text: e.currentTarget.value })} />
                <FieldErr msg={errs["action.text"]} />
                <div class="row">
                  <label>
                    Accept button <input value={a.accept_label ?? ""} placeholder="Start chat" onInput={(e) => act({ accept_label: e.currentTarget.value || undefined })} />
                  </label>
                  <label>
                    Decline button <input value={a.decline_label ?? ""} placeholder="No thanks" onInput={(e) => act({ decline_label: e.currentTarget.value || undefined })} />
                  </label>
                </div>
                <label for="rule-wait">Withhold while the estimated wait is over (seconds; empty: any wait)</label>
                <input id="rule-wait" type="number" class="short" value={a.max_wait_seconds ?? ""} onInput={(e) => act({ max_wait_seconds: e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value) })} />
                <FieldErr msg={under(errs, "action.accept_label", "action.decline_label", "action.max_wait_seconds", "action.metadata")} />
              </>
            )}
            {(a.type === "content_offer" || a.type === "entry_point") && (
              <>
                {a.type === "entry_point" && (
                  <div class="row">
                    <label>
                      Tab label <input value={a.label ?? ""} onInput={(e) => act({ label: e.currentTarget.value })} />
                    </label>
                    <label>
                      Edge{" "}
                      <select value={a.position ?? "right"} onChange={(e) => act({ position: e.currentTarget.value })}>
                        <option value="right">right</option>
                        <option value="left">left</option>
                      </select>
                    </label>
                  </div>
                )}
                <label for="rule-template">Template</label>
                <select id="rule-template" value={a.template ?? ""} onChange={(e) => act({ template: e.currentTarget.value })}>
                  <option value="" disabled>
                    {templates?.items.length === 0 ? "(no template yet: create one under Templates)" : "(choose a template)"}
                  </option>
                  {templates?.items.map((t) => (
                    <option value={t.id}>{t.body.name}</option>
                  ))}
                </select>
                <FieldErr msg={errs["action.template"] ?? errs["action.label"] ?? errs["action.position"]} />
              </>
            )}
          </fieldset>
          <fieldset>
            <legend>How often</legend>
            <div class="row">
              <label>
                Shows per visit <input type="number" class="short" value={rule.limits?.per_visit ?? 1} onInput={(e) => set({ limits: { ...rule.limits, per_visit: Number(e.currentTarget.value) } })} />
              </label>
              <label>
                Then not for (days) <input type="number" class="short" value={rule.limits?.per_visitor_days ?? 0} onInput={(e) => set({ limits: { ...rule.limits, per_visitor_days: Number(e.currentTarget.value) } })} />
              </label>
              <label>
                After a decline, not for (days){" "}
                <input type="number" class="short" value={rule.limits?.cooldown_days_after_decline ?? 0} onInput={(e) => set({ limits: { ...rule.limits, cooldown_days_after_decline: Number(e.currentTarget.value) } })} />
              </label>
            </div>
            <FieldErr msg={under(errs, "limits")} />
          </fieldset>
          <fieldset>
            <legend>Schedule (the site's time zone, {props.site.time_zone})</legend>
            <div class="row">
              {days.map((d) => (
                <label>
                  <input
                    type="checkbox"
                    checked={(sched.days ?? []).includes(d)}
                    onChange={(e) => {
                      const ds = e.currentTarget.checked ? [...(sched.days ?? []), d] : (sched.days ?? []).filter((x) => x !== d);
                      set({ schedule: { ...sched, days: days.filter((x) => ds.includes(x)) } });
                    }}
                  />{" "}
                  {d}
                </label>
              ))}
            </div>
            <div class="row">
              <label>
                From <input type="time" value={sched.from ?? ""} onInput={(e) => set({ schedule: { ...sched, from: e.currentTarget.value || undefined } })} />
              </label>
              <label>
                to <input type="time" value={sched.to ?? ""} onInput={(e) => set({ schedule: { ...sched, to: e.currentTarget.value || undefined } })} />
              </label>
              <label>
                Start date <input type="date" value={sched.start_date ?? ""} onInput={(e) => set({ schedule: { ...sched, start_date: e.currentTarget.value || undefined } })} />
              </label>
              <label>
                End date <input type="date" value={sched.end_date ?? ""} onInput={(e) => set({ schedule: { ...sched, end_date: e.currentTarget.value || undefined } })} />
              </label>
            </div>
            <p class="muted">No day ticked: every day.</p>
            <FieldErr msg={under(errs, "schedule")} />
          </fieldset>
          <fieldset>
            <legend>Measure</legend>
            <label for="rule-control">Control group (% of visitors held back to measure lift)</label>
            <input id="rule-control" type="number" class="short" min={0} max={90} value={rule.split?.control_percent ?? 0} onInput={(e) => set({ split: { control_percent: Number(e.currentTarget.value) } })} />
            <FieldErr msg={under(errs, "split")} />
          </fieldset>
        </div>
      )}
      {write && (
        <div class="row">
          <button onClick={save} disabled={json !== null} aria-describedby={json !== null ? "rule-json-save" : undefined}>
            Save draft
          </button>
          {json !== null && (
            <span id="rule-json-save" class="muted">
              Saving is done from the builder: go back to it and the JSON is read into it first.
            </span>
          )}
          {view && (
            <button class="secondary" onClick={() => run("Published: open pages get it within a minute.", () => api<RuleView>("POST", base + "/rules/" + view.id + "/publish"))}>
              Publish
            </button>
          )}
          {view && view.published_version > 0 && (
            <button class="secondary" onClick={() => run("Unpublished: pages stop making this offer.", () => api<RuleView>("POST", base + "/rules/" + view.id + "/unpublish"))}>
              Unpublish
            </button>
          )}
          {view && (
            <button
              class="link danger"
              onClick={async () =>
                (await confirm("Delete the rule “" + rule.name + "”?", "Pages stop making its offer, and its published versions go with it.", "Delete the rule")) &&
                run("Deleted.", async () => (await api("DELETE", base + "/rules/" + view.id), props.onClose()))
              }
            >
              Delete
            </button>
          )}
        </div>
      )}
      {write && <Alert error={error} />}
      {write && <Unplaced errs={errs} />}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      </div>
      <aside class="side">
        <h3>How it looks</h3>
        <OfferLook site={props.site} action={a} template={a.template ? templates?.items.find((t) => t.id === a.template)?.body : undefined} />
        <RulePreview base={base} rule={rule} />
      </aside>
      </div>
      {view && <RuleResults base={base} view={view} />}
      {view && <History base={base} view={view} write={write} onRolledBack={props.onSaved} />}
    </div>
  );
}

// RulePreview tries the rule (as edited, unsaved) against facts: typed, or
// those of one of the site's recent visits; it shows each condition's result.
function RulePreview({ base, rule }: { base: string; rule: Rule }) {
  const [visits, , reloadVisits] = useLoad(() => api<{ items: RecentVisit[] }>("GET", base + "/visits?limit=20"), [base]);
  const [facts, setFacts] = useState('{\n  "page.path": "/",\n  "page.seconds": 30\n}');
  const [result, setResult] = useState<Preview | null>(null);
  const [error, setError] = useState<unknown>();
  const tryIt = async () => {
    try {
      setResult(await api<Preview>("POST", base + "/rules/preview", { rule, facts: JSON.parse(facts) }));
      setError(undefined);
    } catch (e) {
      setResult(null);
      setError(e);
    }
  };
  const item = result?.items[0];
  return (
    <div class="preview" aria-label="Try the rule">
      <h3>Try it</h3>
      <div class="row spread">
        <label for="preview-visit">Facts of a recent visit</label>
        <button type="button" class="link" onClick={reloadVisits}>
          Refresh the visits
        </button>
      </div>
      <select
        id="preview-visit"
        onChange={(e) => {
          const v = visits?.items.find((x) => x.visit === e.currentTarget.value);
          if (v) setFacts(JSON.stringify(v.facts, null, 2));
        }}
      >
        <option value="">(choose a visit, or type facts below)</option>
        {visits?.items.map((v) => (
          <option value={v.visit}>
            {when(v.start)} · {String(v.facts["page.path"] ?? "")} · {String(v.facts["visitor.device"] ?? "")}
          </option>
        ))}
      </select>
      <label for="preview-facts">Facts</label>
      <textarea id="preview-facts" class="json small" spellcheck={false} value={facts} onInput={(e) => setFacts(e.currentTarget.value)} />
      <button class="secondary" onClick={tryIt}>
        Try the rule
      </button>
      <Alert error={error} />
      {item && (
        <div aria-label="Preview result">
          <p>
            <strong>{item.qualifies ? "This visitor qualifies." : "This visitor does not qualify."}</strong>{" "}
            {!item.in_schedule && "Outside the schedule. "}
            {!item.allowed && "Held back by the caps. "}
            {item.variant === "control" && "In the control group: they would see nothing."}
          </p>
          <ul class="steps">
            {item.steps.map((s) => (
              <li class={s.result}>
                <code>{s.path}</code> {s.fact ? s.fact + " " + s.op + " " + JSON.stringify(s.value) : ""}: <strong>{s.result.replace("_", " ")}</strong>
                {s.actual !== undefined && <span class="muted"> (the visitor: {JSON.stringify(s.actual)})</span>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

function RuleResults({ base, view }: { base: string; view: RuleView }) {
  const [range, setRange] = useState<Range>(lastDays(30));
  const [funnel] = useLoad(() => api<OffersReport>("GET", base + "/reports/offers?from=" + range.from + "&to=" + range.to), [base, view.id, range.from, range.to]);
  const f = funnel?.items.find((x) => x.rule === view.id);
  if (!funnel) return null;
  const row = (v?: OfferVariant) => [v?.visits ?? 0, v?.qualified ?? 0, v?.shown ?? 0, v?.accepted ?? 0, v?.declined ?? 0, v?.chats ?? 0, v?.conversions ?? 0, (v?.conversion_rate ?? 0).toFixed(1) + " %"];
  return (
    <div aria-label="Results">
      <h3>Results</h3>
      <DateRange value={range} onChange={setRange} />
      {!f ? (
        <p class="empty">No visitor has met this rule yet.</p>
      ) : (
        <>
          <table aria-label="Funnel">
            <thead>
              <tr>
                <th></th>
                <th>Visits</th>
                <th>Qualified</th>
                <th>Shown</th>
                <th>Accepted</th>
                <th>Declined</th>
                <th>Chats</th>
                <th>Conversions</th>
                <th>Rate</th>
              </tr>
            </thead>
            <tbody>
              {(["offer", "control"] as const).map((k) => (
                <tr>
                  <td>{k}</td>
                  {row(f.variants[k]).map((c) => (
                    <td>{c}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <p>
            {f.lift
              ? "Lift: " + pct(f.lift.relative) + " (95 % interval " + pct(f.lift.relative_low) + " to " + pct(f.lift.relative_high) + "), " +
                (f.lift.difference >= 0 ? "+" : "") + f.lift.difference.toFixed(2) + " points"
              : "Lift needs a control group and conversions in both groups."}
          </p>
        </>
      )}
    </div>
  );
}

function History({ base, view, write, onRolledBack }: { base: string; view: RuleView; write: boolean; onRolledBack: (v: RuleView) => void }) {
  const [versions, error] = useLoad(() => api<{ items: RuleVersion[] }>("GET", base + "/rules/" + view.id + "/versions"), [view.id, view.published_version]);
  const [failed, setFailed] = useState<unknown>();
  return (
    <div aria-label="History">
      <h3>Published versions</h3>
      <Alert error={error ?? failed} />
      {versions && versions.items.length === 0 ? (
        <p class="muted">Never published.</p>
      ) : (
        <ul>
          {versions?.items.map((v) => (
            <li>
              v{v.version} · {when(v.created_at)} · {v.body.name}
              {v.version === view.published_version ? " (live)" : ""}
              {write && v.version !== view.published_version && (
                <button
                  class="link"
                  onClick={() =>
                    api<RuleView>("POST", base + "/rules/" + view.id + "/rollback", { version: v.version }).then(onRolledBack, setFailed)
                  }
                >
                  Roll back to v{v.version}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function TemplateEditor({ site, base, view, onClose }: { site: Site; base: string; view: TemplateView | null; onClose: () => void }) {
  const [t, setT] = useState<Template>(view?.body ?? { name: "New template", title: "10 % off today", body: "", buttons: [{ label: "Chat with us", action: "chat" }] });
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const set = (p: Partial<Template>) => setT({ ...t, ...p });
  const buttons = t.buttons ?? [];
  const setButton = (i: number, p: Partial<NonNullable<Template["buttons"]>[number]>) => set({ buttons: buttons.map((b, j) => (j === i ? { ...b, ...p } : b)) });
  const save = async () => {
    try {
      await (view ? api("PUT", base + "/templates/" + view.id, t) : api("POST", base + "/templates", t));
      setError(undefined);
      setNotice("Saved: pages showing it get the change within a minute.");
    } catch (e) {
      setNotice("");
      setError(e);
    }
  };
  const remove = async () => {
    if (!view || !(await confirm("Delete the template “" + t.name + "”?", "This cannot be undone.", "Delete the template"))) return;
    try {
      await api("DELETE", base + "/templates/" + view.id);
      onClose();
    } catch (e) {
      setNotice("");
      setError(e);
    }
  };
  return (
    <div class="editor" aria-label="Template editor">
      <div class="row spread">
        <h3>{view ? t.name : "New template"}</h3>
        <button class="link" onClick={onClose}>
          Back to the rules
        </button>
      </div>
      <Alert error={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <div class="split">
        <div class="rule-form">
          <label for="tpl-name">Name</label>
          <input id="tpl-name" value={t.name} onInput={(e) => set({ name: e.currentTarget.value })} />
          <label for="tpl-title">Title</label>
          <input id="tpl-title" value={t.title} onInput={(e) => set({ title: e.currentTarget.value })} />
          <label for="tpl-body">Text</label>
          <textarea id="tpl-body" value={t.body ?? ""} onInput={(e) => set({ body: e.currentTarget.value })} />
          <label for="tpl-image">Image (an https:// address)</label>
          <input id="tpl-image" value={t.image_url ?? ""} onInput={(e) => set({ image_url: e.currentTarget.value || undefined })} />
          <label for="tpl-alt">Image description</label>
          <input id="tpl-alt" value={t.image_alt ?? ""} onInput={(e) => set({ image_alt: e.currentTarget.value || undefined })} />
          <h4>Buttons</h4>
          {buttons.map((b, i) => (
            <div class="row" role="group" aria-label={"Button " + (i + 1)}>
              <input aria-label={"Label of button " + (i + 1)} value={b.label ?? ""} onInput={(e) => setButton(i, { label: e.currentTarget.value })} />
              <select aria-label={"Action of button " + (i + 1)} value={b.action ?? "chat"} onChange={(e) => setButton(i, { action: e.currentTarget.value as "chat" })}>
                <option value="chat">opens the chat</option>
                <option value="link">opens a link</option>
                <option value="dismiss">closes the offer</option>
              </select>
              {b.action === "link" && <input aria-label={"Link of button " + (i + 1)} placeholder="https://" value={b.url ?? ""} onInput={(e) => setButton(i, { url: e.currentTarget.value })} />}
              <button type="button" class="link" onClick={() => set({ buttons: buttons.filter((_, j) => j !== i) })}>
                Remove
              </button>
            </div>
          ))}
          {buttons.length < 3 && (
            <button type="button" class="secondary" onClick={() => set({ buttons: [...buttons, { label: "No thanks", action: "dismiss" }] })}>
              + Button
            </button>
          )}
          <div class="row">
            <button onClick={save}>Save template</button>
            {view && (
              <button type="button" class="link danger" onClick={remove}>
                Delete
              </button>
            )}
          </div>
        </div>
        <OfferLook site={site} action={{ type: "content_offer" }} template={t} />
      </div>
    </div>
  );
}

// Placed are the fields the builder shows its own errors beside; Unplaced
// lists the others (a field only the JSON view has) under Save.
const placed = ["name", "priority", "when", "action", "limits", "schedule", "split"];

function Unplaced(props: { errs: Record<string, string> }) {
  const rest = Object.entries(props.errs).filter(([p]) => !placed.some((x) => p === x || p.startsWith(x + ".") || p.startsWith(x + "[")));
  if (rest.length === 0) return null;
  return (
    <ul class="field-error" role="alert">
      {rest.map(([p, m]) => (
        <li>
          {p}: {m}
        </li>
      ))}
    </ul>
  );
}

// FieldErr is the server's objection to one field, shown beside it.
export function FieldErr(props: { msg?: string }) {
  if (!props.msg) return null;
  return (
    <p class="field-error" role="alert">
      {props.msg}
    </p>
  );
}

// under joins the objections to fields under any of the prefixes.
function under(errs: Record<string, string>, ...prefixes: string[]): string | undefined {
  const ms = Object.entries(errs)
    .filter(([p]) => prefixes.some((x) => p === x || p.startsWith(x + ".") || p.startsWith(x + "[")))
    .map(([, m]) => m);
  return ms.length ? ms.join(" ") : undefined;
}

// ruleErrors reads a refused save into sentences by field: the server names
// each bad node of the rule by its JSON path.
function ruleErrors(e: unknown): Record<string, string> {
  if (!(e instanceof ApiError)) return {};
  const list = e.details ?? (e.field ? [{ path: e.field, message: e.message.replace(e.field + " ", "").replace(e.field + ": ", "") }] : []);
  const out: Record<string, string> = {};
  for (const d of list) {
    let m = d.message;
    if (d.path === "action.queue" && m === "required") m = "Choose the queue that answers this offer's chats";
    else if (d.path === "action.template" && m === "required") m = "Choose the template to show";
    else if (m === "required") m = "Required";
    m = m.charAt(0).toUpperCase() + m.slice(1);
    if (!/[.!?]$/.test(m)) m += ".";
    out[d.path] = out[d.path] ? out[d.path] + " " + m : m;
  }
  return out;
}
