// The audit log, with names instead of ids, filters and paging.
import { useState } from "preact/hooks";
import { api } from "../api";
import type { AuditEntry, Me, Member, PageOf, Token } from "../api";
import { Table } from "../components/table";
import { Section, useLoad, when } from "../ui";

const auditKinds = ["", "member.", "invitation.", "site.", "token.", "rule.", "template.", "queue.", "chat_settings.", "webhook.", "visitor.", "user."];

export function Audit({ me }: { me: Me }) {
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [cursor, setCursor] = useState("");
  const q = "?limit=50" + (action ? "&action=" + encodeURIComponent(action) : "") + (actor ? "&actor=" + encodeURIComponent(actor) : "") + (cursor ? "&cursor=" + cursor : "");
  const [page, error, reload] = useLoad(() => api<PageOf<AuditEntry>>("GET", "/api/audit" + q), [me.tenant_id, q]);
  const [members] = useLoad(() => api<PageOf<Member>>("GET", "/api/members?limit=200"), [me.tenant_id]);
  const [tokens] = useLoad(() => api<PageOf<Token>>("GET", "/api/tokens?limit=200"), [me.tenant_id]);
  // Names instead of ids, where the tenant still has them.
  const names = new Map<string, string>();
  for (const m of members?.items ?? []) names.set("user:" + m.id, m.name || m.email);
  for (const t of tokens?.items ?? []) names.set("token:" + t.id, "token " + t.name);
  names.set("system:nudge", "nudge (the system)");
  const actorName = (a: string) => names.get(a) ?? a;
  const target = (e: AuditEntry) => (e.target_type === "user" ? names.get("user:" + e.target_id) ?? e.target_id : e.target_id);
  return (
    <Section title="Audit log">
      <form class="range" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <label>
          What{" "}
          <select value={action} onChange={(e) => (setAction(e.currentTarget.value), setCursor(""))}>
            {auditKinds.map((k) => (
              <option value={k}>{k ? k.replace(".", "") : "everything"}</option>
            ))}
          </select>
        </label>
        <label>
          Who{" "}
          <select value={actor} onChange={(e) => (setActor(e.currentTarget.value), setCursor(""))}>
            <option value="">anyone</option>
            {[...names.entries()].map(([id, n]) => (
              <option value={id}>{n}</option>
            ))}
          </select>
        </label>
      </form>
      <Table
        label="Audit log"
        rows={page?.items}
        error={error}
        retry={reload}
        rowKey={(a) => a.id}
        empty={"Nothing recorded" + (action || actor ? " with these filters" : "") + "."}
        columns={[
          { title: "When", cell: (a) => when(a.created_at) },
          { title: "Who", cell: (a) => <span title={a.actor}>{actorName(a.actor)}</span> },
          { title: "What", cell: (a) => a.action },
          {
            title: "On",
            cell: (a) => (
              <span title={a.target_id}>
                {a.target_type} {target(a)}
              </span>
            ),
          },
          {
            title: "Details",
            cell: (a) => (
              <small class="muted">
                {Object.entries(a.detail ?? {})
                  .map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v)))
                  .join(", ")}
              </small>
            ),
          },
        ]}
      />
      <div class="row">
        {cursor && (
          <button class="secondary" onClick={() => setCursor("")}>
            Newest entries
          </button>
        )}
        {page?.next_cursor && (
          <button class="secondary" onClick={() => setCursor(page.next_cursor)}>
            Older entries
          </button>
        )}
      </div>
    </Section>
  );
}
