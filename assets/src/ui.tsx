import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";

// Alert shows an error; an ApiError's message is the server's own sentence.
export function Alert({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return (
    <p class="alert" role="alert">
      {text}
    </p>
  );
}

// useLoad runs a loader on mount and whenever deps change.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [T | undefined, unknown, () => void] {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(undefined)),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [data, error, () => setN(n + 1)];
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-labelledby={"h-" + title}>
      <h2 id={"h-" + title}>{title}</h2>
      {children}
    </section>
  );
}

export function fieldError(e: unknown, field: string): string | undefined {
  return e instanceof ApiError && e.field === field ? e.message : undefined;
}

export function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : "never";
}
