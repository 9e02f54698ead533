// CopyButton copies a text (a link, a token, the snippet) and says so.
import { useState } from "preact/hooks";

export function CopyButton({ text, label, class: cls }: { text: string; label: string; class?: string }) {
  const [copied, setCopied] = useState("");
  return (
    <button
      type="button"
      class={cls}
      onClick={() =>
        navigator.clipboard?.writeText(text).then(
          () => setCopied(text),
          () => setCopied(""),
        )
      }
    >
      {copied === text ? "Copied" : label}
    </button>
  );
}
