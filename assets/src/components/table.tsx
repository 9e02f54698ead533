// Table is the console's one list of records: a loading line until the rows
// arrive, the load's error with a way to try again, a sentence when there is
// nothing (what the list is for, and how to add to it), and otherwise a table
// whose columns the page describes once.
import type { ComponentChildren, VNode } from "preact";
import { Alert } from "../ui";

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

export function Table<T>(props: {
  /** The table's accessible name. */
  label: string;
  rows: T[] | undefined;
  columns: (Column<T> | false | undefined)[];
  /** Shown instead of an empty table. */
  empty: ComponentChildren;
  rowKey: (row: T) => string;
  /** The load's error; with retry, a button to load again. */
  error?: unknown;
  retry?: () => void;
  /** A row being edited in place (its own <tr>), or null for the plain row. */
  editing?: (row: T) => VNode | null;
}) {
  const columns = props.columns.filter((c): c is Column<T> => !!c);
  if (props.rows === undefined) {
    return props.error ? (
      <div class="row">
        <Alert error={props.error} />
        {props.retry && (
          <button type="button" class="secondary" onClick={props.retry}>
            Try again
          </button>
        )}
      </div>
    ) : (
      <p class="pending" aria-busy="true">
        Loading…
      </p>
    );
  }
  if (props.rows.length === 0) return <p class="empty">{props.empty}</p>;
  return (
    <div class="table">
      <table aria-label={props.label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" class={c.numeric ? "num" : undefined}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map(
            (r) =>
              props.editing?.(r) ?? (
                <tr key={props.rowKey(r)}>
                  {columns.map((c) => (
                    <td class={c.numeric ? "num" : undefined}>{c.cell(r)}</td>
                  ))}
                </tr>
              ),
          )}
        </tbody>
      </table>
    </div>
  );
}
