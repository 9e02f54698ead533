// Visitors: who is on a site now (page, time on site, pages this visit,
// referrer, returning, the customer if verified, whether an offer was
// shown), refreshed every few seconds, filtered as you type; Invite offers
// one of them a chat: their page shows it within seconds, and a chat it
// starts comes to you first.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { Me } from "../api";
import type { LiveVisitor, Queue, Site } from "../api.gen";
import { useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad } from "../ui";

type Live = { items: LiveVisitor[]; push_offers: boolean };

const ago = (iso: string, now: number) => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
};

export function Visitors({ me }: { me: Me }) {
  const [sites] = useLoad(() => api<{ items: Site[] }>("GET", "/api/sites").then((r) => r.items), [me.tenant_id]);
  const [queues] = useLoad(() => api<{ items: Queue[] }>("GET", "/api/queues").then((r) => r.items), [me.tenant_id]);
  const [site, setSite] = useState("");
  const [live, setLive] = useState<Live>();
  const [error, setError] = useState<unknown>();
  const [filter, setFilter] = useState("");
  const [returning, setReturning] = useState(false);
  const [known, setKnown] = useState(false);
  const [inviting, setInviting] = useState("");
  const [now, setNow] = useState(Date.now());
  const current = site || sites?.[0]?.id || "";

  useEffect(() => {
    if (!current) return;
    let stop = false;
    const load = () =>
      api<Live>("GET", "/api/sites/" + encodeURIComponent(current) + "/visitors/now").then(
        (l) => !stop && (setLive(l), setError(undefined), setNow(Date.now())),
        (e) => !stop && setError(e),
      );
    load();
    const t = setInterval(load, 5000);
    return () => ((stop = true), clearInterval(t));
  }, [current]);

  const words = filter.trim().toLowerCase();
  const shown = (live?.items ?? []).filter(
    (v) =>
      (!returning || v.returning) &&
      (!known || v.contact) &&
      (!words || [v.page, v.title, v.referrer, v.contact?.name, v.contact?.email].some((x) => x?.toLowerCase().includes(words))),
  );
  return (
    <Section title="Visitors">
      <div class="row">
        {(sites?.length ?? 0) > 1 && (
          <label class="inline">
            Site
            <select aria-label="Site" value={current} onChange={(e) => (setSite(e.currentTarget.value), setLive(undefined))}>
              {sites!.map((s) => (
                <option value={s.id}>{s.name}</option>
              ))}
            </select>
          </label>
        )}
        <input type="search" aria-label="Filter visitors" placeholder="Filter by page, referrer or customer" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <label class="inline">
          <input type="checkbox" checked={returning} onChange={(e) => setReturning(e.currentTarget.checked)} /> returning
        </label>
        <label class="inline">
          <input type="checkbox" checked={known} onChange={(e) => setKnown(e.currentTarget.checked)} /> known customers
        </label>
      </div>
      <Alert error={error} />
      {live && !live.push_offers && (
        <p class="hint">This site's pages do not ask for invitations: an owner or admin turns on pushed offers in the site's settings (Sites).</p>
      )}
      {live && (
        <p class="muted" aria-live="polite">
          {live.items.length} on the site now{shown.length !== live.items.length ? ", " + shown.length + " shown" : ""}.
        </p>
      )}
      <Table
        label="Visitors on the site now"
        rows={live ? shown : undefined}
        rowKey={(v) => v.visitor}
        empty={live?.items.length ? "Nobody matches the filter." : "Nobody is on the site now."}
        columns={[
          { title: "Page", cell: (v) => <span title={v.page}>{v.title || v.page}</span> },
          { title: "On the site", cell: (v) => ago(v.since, now) },
          { title: "Pages", cell: (v) => v.pages, numeric: true },
          { title: "From", cell: (v) => v.referrer || "direct" },
          { title: "Returning", cell: (v) => (v.returning ? "yes" : "new") },
          { title: "Customer", cell: (v) => (v.contact ? v.contact.name || v.contact.email || "verified" : "") },
          { title: "Offer shown", cell: (v) => (v.offer_shown ? "yes" : "") },
          {
            title: "Actions",
            cell: (v) =>
              inviting === v.visitor ? (
                <InviteForm site={current} visitor={v.visitor} queues={queues ?? []} done={() => setInviting("")} />
              ) : (
                <button
                  class="link"
                  disabled={!v.invitable}
                  title={v.invitable ? "" : "Their page does not ask for offers now"}
                  onClick={() => setInviting(v.visitor)}
                  aria-label={"Invite the visitor on " + (v.title || v.page)}
                >
                  Invite
                </button>
              ),
          },
        ]}
      />
    </Section>
  );
}

function InviteForm({ site, visitor, queues, done }: { site: string; visitor: string; queues: Queue[]; done: () => void }) {
  const [text, setText] = useState("Hi! Can I help you with anything?");
  const [queue, setQueue] = useState(queues[0]?.name ?? "");
  const [sent, setSent] = useState(false);
  const act = useAction();
  const send = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      await api("POST", "/api/sites/" + encodeURIComponent(site) + "/visitors/" + encodeURIComponent(visitor) + "/invite", { text, queue });
      setSent(true);
    });
  };
  if (sent)
    return (
      <span role="status">
        Invited: their page shows it within seconds.{" "}
        <button class="link" onClick={done}>
          OK
        </button>
      </span>
    );
  return (
    <form onSubmit={send} aria-label="Invitation">
      <input aria-label="Invitation text" value={text} onInput={(e) => setText(e.currentTarget.value)} required maxLength={500} />
      <select aria-label="Queue" value={queue} onChange={(e) => setQueue(e.currentTarget.value)}>
        {queues.map((q) => (
          <option value={q.name}>{q.name}</option>
        ))}
      </select>
      <button type="submit" disabled={act.busy}>
        Send invitation
      </button>
      <button type="button" class="link" onClick={done}>
        Cancel
      </button>
      <Alert error={act.error} />
    </form>
  );
}
