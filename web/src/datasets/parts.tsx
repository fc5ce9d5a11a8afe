// What the dataset and experiment pages share: a refusal with every issue the server listed (an import's lines, a
// form's fields), and JSON shown compactly.
import { ErrorBox } from "../components/ui";
import { issuesOf } from "../evals/issues";

/**
 * The app's error box; for a refusal that lists its issues (an import names its line in each, a form its fields),
 * how many there are, then each on its own line, instead of the server's one long sentence of them all.
 */
export function RefusalBox({ error, title }: { error: unknown; title?: string }) {
  const issues = issuesOf(error);
  if (issues.length === 0) return <ErrorBox error={error} title={title} />;
  return (
    <ErrorBox error={error} title={title} message={issues.length === 1 ? "one problem:" : `${issues.length} problems:`}>
      <ul className="issue-list" aria-label="Problems">
        {issues.map((issue, i) => (
          <li key={i}>
            {issue.message}
            {!/^line \d+:/.test(issue.message) && issue.path && (
              <span className="muted small"> ({issue.path.replace(/^body\./, "")})</span>
            )}
          </li>
        ))}
      </ul>
    </ErrorBox>
  );
}

/** A JSON value on one line, text as it is: how variables, expected outputs and metadata read in a table cell. */
export function jsonText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function JsonCell({ value }: { value: unknown }) {
  const text = jsonText(value);
  if (!text) return <span className="muted">—</span>;
  return (
    <code className="json-cell" title={text.length > 200 ? text.slice(0, 2000) : undefined}>
      {text.length > 200 ? `${text.slice(0, 200)}…` : text}
    </code>
  );
}
