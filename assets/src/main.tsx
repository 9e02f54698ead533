// The nudge console: log in, pick a tenant, manage sites, members and tokens.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, may, setSession } from "./api";
import type { InvitationPreview, Me } from "./api";
import { Chats } from "./pages/chats";
import { ChatSetup } from "./pages/chatsetup";
import { ChatReports } from "./pages/chatreports";
import { Offers } from "./pages/offers";
import { Analytics } from "./pages/analytics";
import { Transcripts } from "./pages/transcripts";
import { LeftMessages } from "./pages/left";
import { Visitors } from "./pages/visitors";
import { Contacts } from "./pages/contacts";
import { Account } from "./pages/account";
import { Audit } from "./pages/audit";
import { Members } from "./pages/members";
import { Tokens } from "./pages/tokens";
import { Email } from "./pages/email";
import { Sites } from "./pages/sites";
import { Dialogs } from "./components/dialog";
import { Alert } from "./ui";
import "./console.css";

type View = "chats" | "visitors" | "messages" | "transcripts" | "contacts" | "chatreports" | "setup" | "offers" | "reports" | "sites" | "members" | "email" | "tokens" | "audit" | "account";
const titles: Record<View, string> = {
  chats: "Chats",
  visitors: "Visitors",
  messages: "Left messages",
  transcripts: "Transcripts",
  contacts: "Contacts",
  chatreports: "Chat reports",
  offers: "Offers",
  setup: "Chat setup",
  reports: "Analytics",
  sites: "Sites",
  members: "Members",
  email: "Email",
  tokens: "API tokens",
  audit: "Audit log",
  account: "Account",
};

function viewFromPath(): View {
  const v = location.pathname.replace(/^\/+/, "").split("/")[0] as View;
  return v in titles ? v : "chats";
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [view, setView] = useState<View>(viewFromPath());

  const load = (tenant?: string) => {
    if (tenant !== undefined) setSession("", tenant);
    // A 200 either way: a logged-out console logs no failed request.
    api<Me | { authenticated: false }>("GET", "/api/auth/session").then(
      (m) => {
        if (!m.authenticated) return setMe(null);
        setSession(m.csrf_token, m.tenant_id);
        setMe(m);
      },
      () => setMe(null),
    );
  };
  useEffect(() => {
    load();
    const onPop = () => setView(viewFromPath());
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (location.pathname === "/invite") {
    return (
      <Invite
        me={me}
        onJoined={(m) => {
          history.replaceState(null, "", "/chats");
          setSession(m.csrf_token, m.tenant_id);
          setMe(m);
          setView("chats");
        }}
        onLogout={async () => {
          await api("POST", "/api/auth/logout").catch(() => undefined);
          setMe(null);
        }}
      />
    );
  }
  if (me === null) return <Login onLogin={(m) => (setSession(m.csrf_token, m.tenant_id), setMe(m))} />;

  const go = (v: View) => (e: Event) => {
    e.preventDefault();
    history.pushState(null, "", "/" + v);
    setView(v);
  };
  const logout = async () => {
    await api("POST", "/api/auth/logout").catch(() => undefined);
    setMe(null);
  };
  const visible: View[] = [];
  if (may(me, "chat:work")) visible.push("chats", "visitors", "messages", "transcripts");
  if (may(me, "contacts:read")) visible.push("contacts");
  if (may(me, "chat:supervise")) visible.push("chatreports");
  if (may(me, "queues:write") || may(me, "agents:write") || may(me, "canned:write")) visible.push("setup");
  if (may(me, "rules:read")) visible.push("offers");
  if (may(me, "reports:read")) visible.push("reports");
  visible.push("sites");
  if (may(me, "members:read")) visible.push("members");
  if (may(me, "email:read")) visible.push("email");
  if (may(me, "tokens:read")) visible.push("tokens");
  if (may(me, "audit:read")) visible.push("audit");
  visible.push("account");
  const current = visible.includes(view) ? view : visible[0]!;

  return (
    <div class="shell">
      <header>
        <span class="brand">nudge</span>
        {me.memberships.length > 1 ? (
          <select aria-label="Tenant" value={me.tenant_id} onChange={(e) => load(e.currentTarget.value)}>
            {me.memberships.map((m) => (
              <option value={m.tenant_id}>{m.tenant_name}</option>
            ))}
          </select>
        ) : (
          <span>{me.memberships[0]?.tenant_name ?? "no tenant"}</span>
        )}
        <span class="who">
          {me.user.email} · {me.role || "no role"}
        </span>
        <button class="link" onClick={logout}>
          Log out
        </button>
      </header>
      <nav aria-label="Sections">
        {visible.map((v) => (
          <a href={"/" + v} aria-current={v === current ? "page" : undefined} onClick={go(v)}>
            {titles[v]}
          </a>
        ))}
      </nav>
      <main>
        {me.tenant_id !== "" && visible.includes("chats") && <Chats key={me.tenant_id} me={me} shown={current === "chats"} onShow={() => setView("chats")} />}
        {me.tenant_id === "" && current !== "account" ? (
          <p>You are not a member of any tenant yet. Ask an owner or admin for an invitation link.</p>
        ) : current === "chats" ? null : current === "visitors" ? (
          <Visitors me={me} />
        ) : current === "messages" ? (
          <LeftMessages me={me} />
        ) : current === "contacts" ? (
          <Contacts me={me} />
        ) : current === "transcripts" ? (
          <Transcripts me={me} />
        ) : current === "chatreports" ? (
          <ChatReports me={me} />
        ) : current === "offers" ? (
          <Offers me={me} />
        ) : current === "setup" ? (
          <ChatSetup me={me} />
        ) : current === "reports" ? (
          <Analytics me={me} />
        ) : current === "sites" ? (
          <Sites me={me} />
        ) : current === "members" ? (
          <Members me={me} />
        ) : current === "email" ? (
          <Email me={me} />
        ) : current === "tokens" ? (
          <Tokens me={me} />
        ) : current === "audit" ? (
          <Audit me={me} />
        ) : (
          <Account me={me} />
        )}
      </main>
      <Dialogs />
    </div>
  );
}

function Login({ onLogin }: { onLogin: (m: Me) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      onLogin(await api<Me>("POST", "/api/auth/login", { email, password }));
    } catch (err) {
      setError(err instanceof ApiError && err.code === "bad_credentials" ? new Error("Wrong email or password.") : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>nudge</h1>
      <form onSubmit={submit} aria-label="Log in">
        <label for="login-email">Email</label>
        <input id="login-email" type="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        <label for="login-password">Password</label>
        <input id="login-password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        <Alert error={error} />
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

// Invite is the page an invitation link opens (/invite#TOKEN): the invited
// person sees the tenant and role, and accepts logged in, with the password
// of their account, or by choosing one for a new account.
function Invite({ me, onJoined, onLogout }: { me: Me | null; onJoined: (m: Me) => void; onLogout: () => void }) {
  const token = location.hash.slice(1);
  const [invite, setInvite] = useState<InvitationPreview | null | undefined>(undefined);
  const [error, setError] = useState<unknown>();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<InvitationPreview>("POST", "/api/invitations/preview", { token }).then(setInvite, (err) => {
      setError(err);
      setInvite(null);
    });
  }, [token]);
  const act = async (e: Event, path: string, body: unknown) => {
    e.preventDefault();
    setBusy(true);
    try {
      onJoined(await api<Me>("POST", path, body));
    } catch (err) {
      setError(err instanceof ApiError && err.code === "bad_credentials" ? new Error("Wrong password for the account with this address.") : err);
    } finally {
      setBusy(false);
    }
  };
  if (invite === undefined) return <p class="loading">Loading…</p>;
  if (invite === null) {
    return (
      <main class="login">
        <h1>nudge</h1>
        <Alert error={error} />
        <p>
          Ask whoever invited you for a new link, or <a href="/">go to the console</a>.
        </p>
      </main>
    );
  }
  const mine = me !== null && me.user.email.toLowerCase() === invite.email.toLowerCase();
  return (
    <main class="login">
      <h1>nudge</h1>
      <p>
        <strong>{invite.tenant_name}</strong> invites <strong>{invite.email}</strong> to join as <strong>{invite.role}</strong>.
      </p>
      <Alert error={error} />
      {me !== null && mine ? (
        <form onSubmit={(e) => act(e, "/api/invitations/accept", { token })} aria-label="Accept the invitation">
          <button type="submit" disabled={busy}>
            Join {invite.tenant_name}
          </button>
        </form>
      ) : me !== null ? (
        <>
          <p>
            You are logged in as {me.user.email}. This invitation is for {invite.email}: log out to accept it with that address.
          </p>
          <button type="button" onClick={onLogout}>
            Log out
          </button>
        </>
      ) : (
        <form onSubmit={(e) => act(e, "/api/invitations/join", { token, name, password })} aria-label="Join">
          <p>If you have a nudge account with this address, enter its password; otherwise choose one (8 characters or more) for your new account.</p>
          <label for="join-name">Your name (for a new account)</label>
          <input id="join-name" autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <label for="join-password">Password</label>
          <input id="join-password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
          <button type="submit" disabled={busy}>
            Join {invite.tenant_name}
          </button>
        </form>
      )}
    </main>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
