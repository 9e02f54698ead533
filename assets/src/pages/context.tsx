// The visitor beside the chat: the page they are on, what they answered,
// who the site says they are, the offer that brought them, their device, the
// page's variables and their earlier chats.
import { useMemo } from "preact/hooks";
import type { ChatView } from "../api.gen";
import type { Context } from "./desk";

export function ContextPanel({ context, view }: { context: Context | null; view: ChatView }) {
  // The view's metadata is current (the page the visitor is on now); the
  // context adds what only it has.
  const meta = useMemo(() => ({ ...context?.meta, ...view.metadata }) as Record<string, any>, [context, view]);
  return (
    <aside class="context" aria-label="Visitor">
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
        {meta.identity && (
          <>
            <dt>Identified</dt>
            <dd>
              {meta.identity.name || meta.identity.id} {meta.identity.email && <small>{meta.identity.email}</small>}
              <div>
                <small>verified by the site · id {meta.identity.id}</small>
              </div>
            </dd>
          </>
        )}
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
      {context && context.previous.length > 0 && (
        <>
          <h3>Earlier chats</h3>
          <ul>
            {context.previous.map((c) => (
              <li>
                {c.created_at.slice(0, 10)} · {c.status} {c.disposition ? "· " + c.disposition : ""}
              </li>
            ))}
          </ul>
        </>
      )}
    </aside>
  );
}
