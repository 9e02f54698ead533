// The pieces every form of the console is made of: a labelled field that
// shows the server's complaint about it, and an action runner that keeps the
// last error and says when it is busy.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { fieldError } from "../ui";

// Field labels one control (give the control the same id) and shows a hint,
// and the server's error when it names this field.
export function Field(props: { id: string; label: ComponentChildren; hint?: ComponentChildren; error?: unknown; name?: string; children: ComponentChildren }) {
  const err = props.name ? fieldError(props.error, props.name) : undefined;
  return (
    <div class={"field" + (err ? " invalid" : "")}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && <small class="hint">{props.hint}</small>}
      {err && (
        <small class="alert" role="alert">
          {err}
        </small>
      )}
    </div>
  );
}

// useAction runs changes one at a time: busy while one runs, its error kept
// until the next succeeds, then() (a reload) after each success.
export function useAction(then?: () => void): { run: (f: () => Promise<unknown>) => Promise<boolean>; error: unknown; busy: boolean; clear: () => void } {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await f();
      setError(undefined);
      then?.();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, error, busy, clear: () => setError(undefined) };
}

// otherThan is an error unless it is about one of fields (which their Field
// shows beside the control): a form's Alert says the rest.
export function otherThan(error: unknown, ...fields: string[]): unknown {
  return fields.some((f) => fieldError(error, f) !== undefined) ? undefined : error;
}
