// confirm asks before something that cannot be undone, in a modal <dialog>
// (focus moves into it, Escape cancels, focus returns to where it was), not
// the browser's confirm(), which blocks the page and cannot say which button
// does what. <Dialogs /> in the shell draws it.
import { useEffect, useRef, useState } from "preact/hooks";

interface Ask {
  title: string;
  body?: string;
  /** The button that goes ahead: "Delete", "Revoke"… */
  action: string;
  resolve: (ok: boolean) => void;
}

let show: ((a: Ask | null) => void) | null = null;

export function confirm(title: string, body: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!show) return resolve(false);
    show({ title, body, action, resolve });
  });
}

export function Dialogs() {
  const [ask, setAsk] = useState<Ask | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    show = (a) => {
      opener.current = document.activeElement;
      setAsk(a);
    };
    return () => {
      show = null;
    };
  }, []);
  useEffect(() => {
    const d = ref.current;
    if (ask && d && !d.open) d.showModal();
  }, [ask]);
  const answer = (ok: boolean) => {
    ask?.resolve(ok);
    setAsk(null);
    ref.current?.open && ref.current.close();
    (opener.current as HTMLElement | null)?.focus?.();
  };
  if (!ask) return null;
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={(e) => (e.preventDefault(), answer(false))}>
      <h2 id="confirm-title">{ask.title}</h2>
      {ask.body && <p>{ask.body}</p>}
      <div class="row">
        <button type="button" class="danger-fill" onClick={() => answer(true)}>
          {ask.action}
        </button>
        <button type="button" class="secondary" autofocus onClick={() => answer(false)}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
