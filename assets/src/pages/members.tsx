// Members of the tenant and their roles, and the invitations that bring
// people in (a link, accepted by the invited address).
import { useState } from "preact/hooks";
import { api, may, roles } from "../api";
import type { Invitation, Me, Member, PageOf, Role } from "../api";
import { CopyButton } from "../components/copy";
import { confirm } from "../components/dialog";
import { Field, otherThan, useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad, when } from "../ui";

export function Members({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Member>>("GET", "/api/members?limit=200"), [me.tenant_id]);
  const editable = may(me, "members:write");
  const act = useAction(reload);
  const remove = async (m: Member) => {
    if (await confirm("Remove " + (m.name || m.email) + "?", "They lose access to this tenant at once; their account and past conversations stay.", "Remove"))
      act.run(() => api("DELETE", "/api/members/" + m.id));
  };
  return (
    <Section title="Members">
      <Alert error={act.error} />
      <Table
        label="Members"
        rows={page?.items}
        error={error}
        retry={reload}
        rowKey={(m) => m.id}
        empty="No members."
        columns={[
          { title: "Email", cell: (m) => m.email },
          { title: "Name", cell: (m) => m.name },
          {
            title: "Role",
            cell: (m) =>
              editable ? (
                <select aria-label={"Role of " + m.email} value={m.role} onChange={(e) => act.run(() => api("PATCH", "/api/members/" + m.id, { role: e.currentTarget.value }))}>
                  {roles.map((r) => (
                    <option value={r}>{r}</option>
                  ))}
                </select>
              ) : (
                m.role
              ),
          },
          editable && {
            title: "Actions",
            cell: (m) => (
              <button class="link" onClick={() => remove(m)} aria-label={"Remove " + m.email}>
                Remove
              </button>
            ),
          },
        ]}
      />
      {editable && <Invitations me={me} />}
    </Section>
  );
}

// Invitations: nobody joins a tenant without accepting a link, which the
// inviter passes on (it is shown once).
function Invitations({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Invitation>>("GET", "/api/invitations?limit=50"), [me.tenant_id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [days, setDays] = useState("7");
  const [link, setLink] = useState<{ email: string; url: string; expires: string } | null>(null);
  const act = useAction(reload);
  const invite = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const r = await api<{ invitation: Invitation; url: string }>("POST", "/api/invitations", { email, role, expires_in_days: Number(days) });
      setLink({ email: r.invitation.email, url: r.url, expires: r.invitation.expires_at });
      setEmail("");
    });
  };
  const revoke = async (i: Invitation) => {
    if (await confirm("Revoke the invitation of " + i.email + "?", "Its link stops working.", "Revoke")) act.run(() => api("DELETE", "/api/invitations/" + i.id));
  };
  return (
    <>
      <form onSubmit={invite} aria-label="Invite someone">
        <h3>Invite someone</h3>
        <Field id="invite-email" label="Email" name="email" error={act.error}>
          <input id="invite-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        </Field>
        <Field id="invite-role" label="Role" name="role" error={act.error}>
          <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {roles.filter((r) => r !== "owner" || me.role === "owner").map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        <Field id="invite-days" label="Valid for">
          <select id="invite-days" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
            {["1", "7", "14", "30"].map((d) => (
              <option value={d}>{d === "1" ? "1 day" : d + " days"}</option>
            ))}
          </select>
        </Field>
        <Alert error={otherThan(act.error, "email", "role")} />
        <button type="submit" disabled={act.busy}>
          Create invitation link
        </button>
      </form>
      {link && (
        <div class="invite-link" role="status">
          <p>
            Send this link to <strong>{link.email}</strong>. It works once, until {when(link.expires)}, and is not shown again.
          </p>
          <input aria-label="Invitation link" readOnly value={link.url} onFocus={(e) => e.currentTarget.select()} />
          <CopyButton text={link.url} label="Copy link" />
        </div>
      )}
      <h3>Invitations</h3>
      <Table
        label="Invitations"
        rows={page?.items}
        error={error}
        retry={reload}
        rowKey={(i) => i.id}
        empty="No invitations yet."
        columns={[
          { title: "Email", cell: (i) => i.email },
          { title: "Role", cell: (i) => i.role },
          { title: "Status", cell: (i) => i.status },
          { title: "Expires", cell: (i) => (i.status === "pending" ? when(i.expires_at) : "") },
          {
            title: "Actions",
            cell: (i) =>
              i.status === "pending" && (
                <button class="link" onClick={() => revoke(i)} aria-label={"Revoke the invitation of " + i.email}>
                  Revoke
                </button>
              ),
          },
        ]}
      />
    </>
  );
}
