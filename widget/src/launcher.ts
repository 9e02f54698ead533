// The chat launcher: only the button, so that a page view of a site with
// chat does not pay for the chat panel. A click, an accepted chat offer or a
// conversation already in progress (its token is in localStorage) loads the
// chat module, which takes the launcher's place. Budget: 1 KB gzipped.
import type { Ctx } from "./types";
import { host, launcher, LAUNCHER_CSS } from "./ui";

window.nudge?.d?.("launcher", (c: Ctx) => {
  const n = window.nudge!;
  let token: string | null = null;
  try {
    // A secured site keeps only a flag that a chat is open.
    token = localStorage.getItem((c.cfg.secured ? "nudge_chat_open_" : "nudge_chat_") + c.key);
  } catch {}
  if (token) n("chat", "resume");
  else launcher(host("launcher", LAUNCHER_CSS).root, c.cfg.theme || { color: "#2563eb", position: "right" }).onclick = () => n("chat", "open");
  return () => {};
});
