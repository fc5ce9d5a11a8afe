// Spans, newest first, filtered on the server (prompt, version, label, status, failed, session, user, model, source,
// time) and paged with its cursor: the page never holds more than one page of spans. Every filter is in the address,
// so a compare page's "failing spans" link and a pasted URL open the same list.
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "../api";
import { Badge, EmptyState, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { int, ms, usd } from "../observe/format";
import { PROMPT_SOURCES, SpanListSchema, type Span } from "@promptreg/client/contract";
import "../observe/observe.css";
import { promptHref } from "./PromptRoute";

const TEXT_FILTERS = [
  ["prompt", "Prompt"],
  ["version", "Version"],
  ["label", "Label"],
  ["model", "Model"],
  ["session", "Session"],
  ["user", "User"],
] as const;
const FILTERS = [
  ...TEXT_FILTERS.map(([k]) => k),
  "status",
  "failed",
  "source",
  "spanKind",
  "linkStatus",
  "from",
  "to",
] as const;
const PAGE_SIZE = 50;

/** datetime-local shows local time without a zone; the address keeps ISO instants. */
const toLocalInput = (iso: string | null) => {
  if (!iso || Number.isNaN(Date.parse(iso))) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const fromLocalInput = (value: string) => (value ? new Date(value).toISOString() : "");

export function traceHref(span: Pick<Span, "traceId" | "spanId">): string {
  return `/traces/${span.traceId}?span=${span.spanId}`;
}

export default function Traces() {
  const [params, setParams] = useSearchParams();
  const cursor = params.get("cursor") ?? undefined;
  const query: Record<string, string | undefined> = { limit: String(PAGE_SIZE), cursor };
  for (const k of FILTERS) query[k] = params.get(k) ?? undefined;
  const spans = useQuery({
    queryKey: ["spans", query],
    queryFn: () => api("/spans", SpanListSchema, { query }),
  });

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const next = new URLSearchParams();
    for (const k of FILTERS) {
      // Filters the form does not show (spanKind, linkStatus) are kept as they came.
      const raw = form.has(k) ? String(form.get(k) ?? "").trim() : (params.get(k) ?? "");
      const value = k === "from" || k === "to" ? (form.has(k) ? fromLocalInput(raw) : raw) : raw;
      if (value) next.set(k, value);
    }
    setParams(next);
  };
  const hidden = (["spanKind", "linkStatus"] as const).filter((k) => params.get(k));

  return (
    <section className="traces-page">
      <div className="page-head">
        <h1>Traces</h1>
        <p className="muted">Spans, newest first; open one to see its whole trace.</p>
      </div>
      <form className="span-filters" onSubmit={apply} aria-label="Filter spans" key={params.toString()}>
        {TEXT_FILTERS.map(([k, title]) => (
          <label key={k}>
            {title}
            <input name={k} defaultValue={params.get(k) ?? ""} size={12} />
          </label>
        ))}
        <label>
          Status
          <select name="status" defaultValue={params.get("status") ?? ""}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="error">error</option>
            <option value="unset">unset</option>
          </select>
        </label>
        <label>
          Failed
          <select name="failed" defaultValue={params.get("failed") ?? ""}>
            <option value="">any</option>
            <option value="true">failed</option>
            <option value="false">not failed</option>
          </select>
        </label>
        <label>
          Source
          <select name="source" defaultValue={params.get("source") ?? ""}>
            <option value="">any</option>
            {[...PROMPT_SOURCES, "unspecified"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" name="from" defaultValue={toLocalInput(params.get("from"))} />
        </label>
        <label>
          To
          <input type="datetime-local" name="to" defaultValue={toLocalInput(params.get("to"))} />
        </label>
        <div className="filter-actions">
          <button type="submit" className="primary">
            Filter
          </button>
          <Link to="/traces" className="button">
            Clear
          </Link>
        </div>
        {hidden.length > 0 && (
          <p className="muted small filter-note">Also: {hidden.map((k) => `${k} = ${params.get(k)}`).join(", ")}</p>
        )}
      </form>

      {spans.isPending ? (
        <Loading label="Loading spans" />
      ) : spans.isError ? (
        <ErrorBox error={spans.error} />
      ) : spans.data.data.length === 0 ? (
        <EmptyState title={cursor ? "No older spans" : "No spans match"}>
          {params.size > 0 ? (
            <p>Widen the filters or the time range.</p>
          ) : (
            <p>
              No traces yet. Point an OpenTelemetry exporter at <code>{window.location.origin}/v1/traces</code> with an
              API key, and link LLM calls to a version with <code>prompt.trace(() =&gt; …)</code> from{" "}
              <code>@promptreg/client</code>.
            </p>
          )}
        </EmptyState>
      ) : (
        <>
          <SpanTable spans={spans.data.data} />
          <div className="pager">
            {cursor && (
              <Link
                className="button"
                to={`?${(() => {
                  const p = new URLSearchParams(params);
                  p.delete("cursor");
                  return p;
                })()}`}
              >
                Newest
              </Link>
            )}
            {spans.data.nextCursor && (
              <Link
                className="button"
                to={`?${(() => {
                  const p = new URLSearchParams(params);
                  p.set("cursor", spans.data.nextCursor!);
                  return p;
                })()}`}
              >
                Older
              </Link>
            )}
          </div>
        </>
      )}
    </section>
  );
}

function SpanTable({ spans }: { spans: Span[] }) {
  const [now] = useState(() => Date.now());
  // The table wraps its longer cells to fit the page; on a screen too narrow even for that, it scrolls in its own
  // box (focusable, so that a keyboard can scroll it too) and the page itself never scrolls sideways.
  return (
    <div className="table-scroll" role="region" aria-label="Spans" tabIndex={0}>
      <table className="list span-table">
        <TableHead
          caption="Spans, newest first"
          columns={[
            "Started",
            "Span",
            "Prompt version",
            "Status",
            { label: "Duration", num: true },
            "Model",
            "Source",
            { label: "Tokens", num: true },
            { label: "Cost", num: true },
          ]}
        />
        <tbody>
          {spans.map((s) => (
            <tr key={`${s.traceId}/${s.spanId}`} className={s.failed ? "failed" : undefined}>
              <td>
                <Time iso={s.startTime} />
                {Date.parse(s.startTime) > now && <span className="muted small"> (future)</span>}
              </td>
              <td>
                <Link to={traceHref(s)} className="span-name">
                  {s.name}
                </Link>{" "}
                {s.spanKind && <Badge>{s.spanKind}</Badge>}
                {s.nestedCall && (
                  <>
                    {" "}
                    <Badge title="Another span records this call (an outer instrumentation layer, or a later attempt): it is not counted">
                      not counted
                    </Badge>
                  </>
                )}
              </td>
              <td>
                {s.promptName ? (
                  s.versionId && s.promptVersion ? (
                    <Link to={promptHref(s.promptName, "versions", { version: s.promptVersion })}>
                      <BreakableName name={s.promptName} /> <span className="semver">{s.promptVersion}</span>
                    </Link>
                  ) : (
                    <span title={s.linkStatus}>
                      <BreakableName name={s.promptName} /> <span className="semver">{s.promptVersion ?? "?"}</span>{" "}
                      <span className="muted small">({s.linkStatus.replace("_", " ")})</span>
                    </span>
                  )
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td>
                <StatusBadge span={s} />
                {s.failed && s.errorMessage && (
                  <div className="error-text small" title={s.errorMessage}>
                    {s.errorMessage}
                  </div>
                )}
              </td>
              <td className="num">{ms(s.latencyMs)}</td>
              <td>{s.model ?? <span className="muted">—</span>}</td>
              <td>{s.source ?? <span className="muted">—</span>}</td>
              <td className="num">{s.tokensTotal === null ? "—" : int(s.tokensTotal)}</td>
              <td className="num">{usd(s.costUsd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A prompt name that may wrap after each `/` of its folders, so that a narrow table column can hold it. */
function BreakableName({ name }: { name: string }) {
  return (
    <>
      {name.split("/").map((part, i) => (
        <span key={i}>
          {i > 0 && (
            <>
              /<wbr />
            </>
          )}
          {part}
        </span>
      ))}
    </>
  );
}

export function StatusBadge({ span }: { span: Pick<Span, "status" | "failed"> }) {
  if (span.failed) return <span className="status status-failed">failed</span>;
  return <span className={`status status-${span.status}`}>{span.status}</span>;
}
