// The user's own account: the display name visitors see, and the password.
import { useState } from "preact/hooks";
import { api, apiBlob } from "../api";
import type { Me } from "../api";
import { Alert, Section } from "../ui";

export function Account({ me }: { me: Me }) {
  const [name, setName] = useState(me.user.name);
  const [named, setNamed] = useState(false);
  const [nameError, setNameError] = useState<unknown>();
  const rename = async (e: Event) => {
    e.preventDefault();
    try {
      await api("PUT", "/api/me/profile", { name });
      setNamed(true);
      setNameError(undefined);
    } catch (err) {
      setNamed(false);
      setNameError(err);
    }
  };
  const [avatar, setAvatar] = useState(me.avatar ?? "");
  const [hasAvatar, setHasAvatar] = useState(!!me.avatar);
  const [avatarError, setAvatarError] = useState<unknown>();
  const upload = async (file: File | undefined) => {
    if (!file) return;
    try {
      const r = await apiBlob<{ avatar: string }>("PUT", "/api/me/avatar", file);
      setAvatar(r.avatar);
      setHasAvatar(true);
      setAvatarError(undefined);
    } catch (err) {
      setAvatarError(err);
    }
  };
  const removeAvatar = async () => {
    try {
      await api("DELETE", "/api/me/avatar");
      setHasAvatar(false);
    } catch (err) {
      setAvatarError(err);
    }
  };
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>();
  const change = async (e: Event) => {
    e.preventDefault();
    try {
      await api("PUT", "/api/me/password", { current_password: current, new_password: next });
      setDone(true);
      setError(undefined);
      setCurrent("");
      setNext("");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Section title="Account">
      <p>
        Signed in as <strong>{me.user.email}</strong>.
      </p>
      <form onSubmit={rename} aria-label="Display name">
        <h3>Display name</h3>
        <label for="me-name">The name visitors see beside your messages, and colleagues in the console</label>
        <input id="me-name" value={name} maxLength={80} onInput={(e) => setName(e.currentTarget.value)} required />
        <Alert error={nameError} />
        {named && <p role="status">Saved: visitors see it once your chat desk reconnects (reload the Chats page).</p>}
        <button type="submit">Save the name</button>
      </form>
      <form aria-label="Picture" onSubmit={(e) => e.preventDefault()}>
        <h3>Picture</h3>
        <p class="muted">Visitors see it beside your messages. PNG, JPEG or WebP, at most 256 KB.</p>
        {hasAvatar && <img class="avatar" src={avatar} alt="Your picture" onError={() => setHasAvatar(false)} />}
        <label for="me-avatar">Choose a picture</label>
        <input id="me-avatar" type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => upload(e.currentTarget.files?.[0])} />
        <Alert error={avatarError} />
        {hasAvatar && (
          <button type="button" class="secondary" onClick={removeAvatar}>
            Remove the picture
          </button>
        )}
      </form>
      <form onSubmit={change} aria-label="Change password">
        <h3>Change password</h3>
        <label for="pw-current">Current password</label>
        <input id="pw-current" type="password" autocomplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} required />
        <label for="pw-new">New password (8 characters or more)</label>
        <input id="pw-new" type="password" autocomplete="new-password" value={next} onInput={(e) => setNext(e.currentTarget.value)} required />
        <Alert error={error} />
        {done && <p role="status">Password changed; your other sessions have ended.</p>}
        <button type="submit">Change password</button>
      </form>
    </Section>
  );
}
