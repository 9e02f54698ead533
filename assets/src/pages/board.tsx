// The supervisor's live board: queues, agents with their status and time in
// it, and every open chat, as the server pushes them; any chat can be monitored.
import { useEffect, useState } from "preact/hooks";
import type { Me } from "../api";
import type { LiveState } from "../api.gen";

// since is how long ago an ISO time was, in words a wall board can show.
function since(iso: string | null | undefined, now: number): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + (Math.floor(s / 60) % 60) + " min";
}

function seconds(n: number): string {
  return n < 60 ? n + " s" : Math.floor(n / 60) + ":" + String(n % 60).padStart(2, "0");
}

// Board is the supervisor's live view: queues, agents and every open chat,
// as the server pushes them; any chat can be monitored.
// A waiting chat can be taken, or given to a connected agent (whatever their
// capacity: the supervisor decides).
export function Board(props: { board: LiveState | null; me: Me; onMonitor: (id: string) => void; onOpen: (id: string) => void; onAssign: (id: string, agent: string) => void }) {
  const { board } = props;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (!board) return <p class="loading">Loading the live board…</p>;
  return (
    <div class="board" aria-label="Live board">
      <h3>Queues</h3>
      <table aria-label="Queues">
        <thead>
          <tr>
            <th>Queue</th>
            <th>Waiting</th>
            <th>Longest wait</th>
            <th>Agents free</th>
            <th>Offered now</th>
            <th>Estimated wait</th>
          </tr>
        </thead>
        <tbody>
          {board.queues.map((q) => (
            <tr key={q.id}>
              <td>
                {q.name}
                {!q.open && <small class="muted"> · closed</small>}
              </td>
              <td>{q.waiting}</td>
              <td>{q.waiting > 0 ? seconds(q.longest_wait) : "—"}</td>
              <td>
                {q.agents_available} <small class="muted">({q.free} free of {q.slots} slots)</small>
              </td>
              <td>{q.offered}</td>
              <td>{q.estimated_wait < 0 ? "nobody can answer" : seconds(q.estimated_wait)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Agents</h3>
      {board.agents.length === 0 ? (
        <p class="muted">No agent has connected since the server started.</p>
      ) : (
        <table aria-label="Agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Status</th>
              <th>For</th>
              <th>Chats</th>
              <th>Offers</th>
            </tr>
          </thead>
          <tbody>
            {board.agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name || a.id}</td>
                <td>
                  <span class={"dot " + a.presence} /> {a.presence}
                </td>
                <td>{since(a.since, now)}</td>
                <td>
                  {a.chats} / {a.capacity}
                </td>
                <td>{a.offers}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Open chats</h3>
      {board.chats.length === 0 ? (
        <p class="muted">No open chat right now.</p>
      ) : (
        <table aria-label="Open chats">
          <thead>
            <tr>
              <th>Visitor</th>
              <th>Status</th>
              <th>Queue</th>
              <th>Agent</th>
              <th>Started</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {board.chats.map((c) => {
              const mine = c.participants.find((p) => p.id === props.me.user.id);
              const waiting = c.status === "queued" || c.status === "bot";
              const who = "visitor " + c.visitor.slice(0, 8);
              return (
                <tr key={c.id}>
                  <td>{"Visitor " + c.visitor.slice(0, 8)}</td>
                  <td>{c.status}</td>
                  <td>{c.queue?.name ?? ""}</td>
                  <td>{c.agent?.name ?? ""}</td>
                  <td>{since(c.created_at, now)} ago</td>
                  <td>
                    {waiting && (
                      <span class="row">
                        <button class="link" onClick={() => props.onAssign(c.id, props.me.user.id)} aria-label={"Take the chat of " + who}>
                          Take
                        </button>
                        <select
                          aria-label={"Assign the chat of " + who + " to"}
                          value=""
                          onChange={(e) => e.currentTarget.value && props.onAssign(c.id, e.currentTarget.value)}
                        >
                          <option value="">Assign to…</option>
                          {board.agents
                            .filter((a) => a.presence !== "offline" && a.id !== props.me.user.id)
                            .map((a) => (
                              <option value={a.id}>
                                {(a.name || a.id) + " (" + a.presence + ", " + a.chats + "/" + a.capacity + ")"}
                              </option>
                            ))}
                        </select>
                      </span>
                    )}
                    {mine ? (
                      <button class="link" onClick={() => props.onOpen(c.id)}>
                        Open
                      </button>
                    ) : !waiting && c.status !== "closed" ? (
                      <button class="link" onClick={() => props.onMonitor(c.id)} aria-label={"Monitor the chat of visitor " + c.visitor.slice(0, 8)}>
                        Monitor
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
