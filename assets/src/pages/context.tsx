// The customer beside the chat: who they are (verified or not, and how),
// the pages of this visit with the time on each, the page they are on, what
// they answered, the offer that brought them, their device, the page's
// variables, and their earlier conversations on every device, each of which
// opens here, read-only.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api";
import type { ChatView, Conversation, Message } from "../api.gen";
import { Alert, when } from "../ui";
import type { Context } from "./desk";

type Transcript = { conversation: Conversation; messages: Message[] };

const duration = (s: number) => (s < 60 ? s + " s" : Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : ""));

export function ContextPanel({ context, view }: { context: Context | null; view: ChatView }) {
  // The view's metadata is current (the page the visitor is on now); the
  // context adds what only it has.
  const meta = useMemo(() => ({ ...context?.meta, ...view.metadata }) as Record<string, any>, [context, view]);
  const [open, setOpen] = useState<Transcript | null>(null);
  const [error, setError] = useState<unknown>();
  useEffect(() => (setOpen(null), setError(undefined)), [view.id]);
  const read = async (id: string) => {
    try {
      setOpen(await api<Transcript>("GET", "/api/conversations/" + encodeURIComponent(view.id) + "/earlier/" + encodeURIComponent(id)));
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  };
  const contact = context?.contact;
  const verified = context?.verified;
  return (
    <aside class="context" aria-label="Visitor">
      <h3>Customer</h3>
      {contact ? (
        <dl aria-label="Contact">
          <dt>Who</dt>
          <dd>
            {contact.name || contact.email || contact.external_id} {contact.email && contact.name && <small>{contact.email}</small>}
            <div>
              <small>
                {verified === "token"
                  ? "Verified in this chat by the site's visitor token"
                  : verified === "hash"
                    ? "Verified in this chat by the site's signature"
                    : "Not verified in this chat: known from an earlier verified visit of this browser"}{" "}
                · id {contact.external_id}
              </small>
            </div>
          </dd>
          <dt>History</dt>
          <dd>
            {contact.visits} visits, {contact.conversations} conversations · first seen {when(contact.first_seen)}
          </dd>
        </dl>
      ) : (
        <p class="muted">Not identified: the site has not verified who this visitor is.</p>
      )}
      {context?.visit && (
        <>
          <h3>This visit</h3>
          <p class="muted">
            Since {when(context.visit.start)}
            {context.visit.referrer ? " · from " + context.visit.referrer : ""}
          </p>
          <ol class="pages" aria-label="Pages of this visit">
            {(context.visit.pages ?? []).map((p) => (
              <li title={p.path}>
                {p.path} <small>{duration(p.seconds) + (p.views > 1 ? " · " + p.views + " views" : "")}</small>
              </li>
            ))}
          </ol>
        </>
      )}
      <h3>Visitor</h3>
      <dl>
        {meta.page && (
          <>
            <dt>Page now</dt>
            <dd>
              {meta.page.title || ""} <small>{meta.page.url}</small>
            </dd>
          </>
        )}
        {meta.pages?.length > 0 && (
          <>
            <dt>Before</dt>
            <dd>
              <ol class="pages">
                {(meta.pages as { url: string; title?: string }[]).slice(0, 5).map((p) => (
                  <li title={p.url}>{p.title || p.url}</li>
                ))}
              </ol>
            </dd>
          </>
        )}
        {meta.topic && (
          <>
            <dt>Topic</dt>
            <dd>{meta.topic}</dd>
          </>
        )}
        {meta.form?.name && (
          <>
            <dt>Name (as given)</dt>
            <dd>{meta.form.name}</dd>
          </>
        )}
        {meta.form?.email && (
          <>
            <dt>Email (as given)</dt>
            <dd>{meta.form.email}</dd>
          </>
        )}
        {Object.entries((meta.form?.fields ?? {}) as Record<string, string>).map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
        {meta.offer && (
          <>
            <dt>Invited by</dt>
            <dd>
              {meta.offer.source === "rule"
                ? "Rule “" + (meta.offer.name || meta.offer.id) + "”" + (meta.offer.version ? " (v" + meta.offer.version + ")" : "")
                : meta.offer.source === "push"
                  ? "An offer pushed by the site"
                  : "An offer from the page's code"}
              {meta.offer.text && (
                <div>
                  <q>{meta.offer.text}</q>
                </div>
              )}
              {Object.entries(meta.offer.data || {}).map(([k, v]) => (
                <div>
                  <small>
                    {k}: {String(v)}
                  </small>
                </div>
              ))}
            </dd>
          </>
        )}
        {meta.device && (
          <>
            <dt>Device</dt>
            <dd>{[meta.device.browser, meta.device.os, meta.device.device].filter(Boolean).join(" · ")}</dd>
          </>
        )}
        {Object.entries(meta.vars || {}).map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{String(v)}</dd>
          </>
        ))}
      </dl>
      {context && context.earlier.length > 0 && (
        <>
          <h3>Earlier conversations</h3>
          <ul aria-label="Earlier conversations">
            {context.earlier.map((c) => (
              <li>
                <button class="link" onClick={() => read(c.id)} aria-label={"Read the conversation of " + c.created_at.slice(0, 10)}>
                  {c.created_at.slice(0, 10)}
                </button>{" "}
                · {c.close_reason === "offline_message" ? "left a message" : c.status} {c.disposition ? "· " + c.disposition : ""}
              </li>
            ))}
          </ul>
        </>
      )}
      <Alert error={error} />
      {open && (
        <article class="earlier" aria-label="Earlier conversation">
          <p>
            <b>{when(open.conversation.created_at)}</b>{" "}
            <button class="link" onClick={() => setOpen(null)}>
              Close
            </button>
          </p>
          {open.messages
            .filter((m) => m.kind !== "system")
            .map((m) => (
              <p class={m.audience === "agents" ? "note" : ""}>
                <small>{m.sender.kind === "visitor" ? "Visitor" : m.sender.name || m.sender.kind}:</small> {m.text || (m.kind === "file" ? "(a file)" : "")}
              </p>
            ))}
        </article>
      )}
    </aside>
  );
}
