// What the dataset and experiment pages share: a refusal with every issue the server listed (an import's lines, a
// form's fields), and JSON shown compactly.
import { ErrorBox } from "../components/ui";
import { issuesOf } from "../evals/issues";

/** The app's error box, then each issue of a 4xx on its own line (an import names its line in every message). */
export function RefusalBox({ error, title }: { error: unknown; title?: string }) {
  const issues = issuesOf(error);
  return (
    <div className="refusal">
      <ErrorBox error={error} title={title} />
      {issues.length > 0 && (
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
      )}
    </div>
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
