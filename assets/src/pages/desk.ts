// What the desk's parts share: the protocol's types as the desk uses them,
// client ids, and small choices kept in the browser.
import type { AgentCommand, AgentFrame, Message } from "../api.gen";

// The protocol's frames are typed from server/openapi.json (the server's tests
// check every frame against it). Message payloads are free-form by kind.
export type Msg = Omit<Message, "payload"> & { payload?: any };
export type Offer = Extract<AgentFrame, { type: "offer" }>["data"];
export type Context = Extract<AgentFrame, { type: "context_ok" }>["data"];
export type Send = (f: AgentCommand) => void;

// stored and store keep small choices in the browser (none when storage is off).
export const stored = (k: string) => {
  try {
    return localStorage.getItem(k);
  } catch {
    return null;
  }
};
export const store = (k: string, v: string) => {
  try {
    localStorage.setItem(k, v);
  } catch {}
};

export const rid = () => Math.random().toString(36).slice(2) + Date.now().toString(36);
