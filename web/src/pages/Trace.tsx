// One trace as a waterfall, and the chosen span in full: why it failed (its exception), the prompt version and the
// template and variables it was rendered from, its attributes and events, and its annotations, to which a person
// adds a thumbs up or down with a comment (through the annotations API, so a comparison by that annotation counts it).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { api } from "../api";
import { Badge, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { int, ms, usd } from "../observe/format";
import {
  AnnotationListSchema,
  TraceSchema,
  type Annotation,
  type Attributes,
  type Scope,
  type Span,
  type SpanNode,
} from "@promptreg/client/contract";
import { EvalStatusBadge } from "../evals/parts";
import "../evals/evals.css";
import "../observe/observe.css";
import { can, useSession } from "../session";
import { promptHref } from "./PromptRoute";
import { StatusBadge } from "./Traces";

interface Row {
  span: SpanNode;
  depth: number;
}

/** Depth-first, children in start order, without recursion (traces can be deep). */
function flatten(roots: SpanNode[]): Row[] {
  const rows: Row[] = [];
  const stack: Row[] = [...roots].reverse().map((span) => ({ span, depth: 0 }));
  while (stack.length) {
    const row = stack.pop()!;
    rows.push(row);
    for (let i = row.span.children.length - 1; i >= 0; i--)
      stack.push({ span: row.span.children[i]!, depth: row.depth + 1 });
  }
  return rows;
}

const nsToMs = (ns: string) => Number(BigInt(ns) / 1000n) / 1000;

export default function TracePage() {
  const { traceId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const trace = useQuery({
    queryKey: ["trace", traceId],
    queryFn: () => api(`/traces/${encodeURIComponent(traceId)}`, TraceSchema),
  });
  const rows = useMemo(() => (trace.data ? flatten(trace.data.spans) : []), [trace.data]);

  if (trace.isPending) return <Loading label="Loading the trace" />;
  if (trace.isError)
    return (
      <section>
        <h1>Trace</h1>
        <ErrorBox error={trace.error} />
        <p>
          <Link to="/traces">Back to the traces</Link>
        </p>
      </section>
    );

  const t = trace.data;
  const start = Math.min(...rows.map((r) => nsToMs(r.span.startTimeUnixNano)));
  const end = Math.max(...rows.map((r) => nsToMs(r.span.endTimeUnixNano)));
  const total = Math.max(end - start, 0.001);
  const wanted = params.get("span");
  const selected =
    rows.find((r) => r.span.spanId === wanted)?.span ??
    rows.find((r) => r.span.failed && r.span.versionId)?.span ??
    rows.find((r) => r.span.failed)?.span ??
    rows[0]?.span;

  return (
    <section className="trace-page">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/traces">Traces</Link> / trace
      </nav>
      <h1>
        Trace <code className="trace-id">{t.traceId}</code>
      </h1>
      <p className="muted">
        {int(t.spanCount)} span{t.spanCount === 1 ? "" : "s"} · {ms(total)} · started{" "}
        <Time iso={rows[0]?.span.startTime ?? ""} />
        {t.truncated && " · only the first spans are shown"}
      </p>

      <table className="waterfall">
        <TableHead
          caption="Spans of the trace by start time, nested under their parents"
          columns={[
            "Span",
            { label: `Timeline (${ms(total)})`, className: "wf-bar-col" },
            { label: "Duration", num: true },
            "Status",
            "Prompt version",
            { label: "Tokens", num: true },
            { label: "Cost", num: true },
          ]}
        />
        <tbody>
          {rows.map(({ span, depth }) => {
            const left = ((nsToMs(span.startTimeUnixNano) - start) / total) * 100;
            const width = Math.max(0.4, (span.latencyMs / total) * 100);
            const isSelected = span === selected;
            return (
              <tr key={span.spanId} className={`${isSelected ? "selected" : ""} ${span.failed ? "failed" : ""}`}>
                <th scope="row" className="wf-name">
                  <span className="wf-indent" style={{ paddingLeft: depth * 16 }}>
                    <button
                      type="button"
                      className="link-button"
                      aria-current={isSelected ? "true" : undefined}
                      onClick={() => setParams({ span: span.spanId }, { replace: true })}
                    >
                      {span.name}
                    </button>{" "}
                    <Badge>{span.spanKind ?? "span"}</Badge>
                    {span.nestedCall && (
                      <>
                        {" "}
                        <Badge title="Another span records this call (an outer instrumentation layer, or a later attempt): it is not counted">
                          not counted
                        </Badge>
                      </>
                    )}
                  </span>
                </th>
                <td className="wf-bar-col" aria-hidden="true">
                  <span className="wf-track">
                    <span
                      className={`wf-bar kind-${(span.spanKind ?? "other").toLowerCase()}`}
                      style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }}
                    />
                  </span>
                </td>
                <td className="num">{ms(span.latencyMs)}</td>
                <td>
                  <StatusBadge span={span} />
                </td>
                <td>{span.spanKind === "LLM" && <VersionLink span={span} />}</td>
                <td className="num">{span.tokensTotal === null ? "" : int(span.tokensTotal)}</td>
                <td className="num">{span.costUsd === null ? "" : usd(span.costUsd)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>

      {selected && (
        <SpanDetail
          span={selected}
          traceAnnotations={t.annotations}
          resource={selected.resourceId === null ? undefined : t.resources[selected.resourceId]}
          scope={selected.scopeId === null ? undefined : t.scopes[selected.scopeId]}
        />
      )}
    </section>
  );
}

function VersionLink({ span }: { span: Span }) {
  if (!span.promptName) return null;
  if (span.versionId && span.promptVersion)
    return (
      <Link to={promptHref(span.promptName, "versions", { version: span.promptVersion })}>
        {span.promptName} <span className="semver">{span.promptVersion}</span>
      </Link>
    );
  return (
    <span className="muted">
      {span.promptName} <span className="semver">{span.promptVersion ?? "?"}</span> ({span.linkStatus.replace("_", " ")}
      )
    </span>
  );
}

const show = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

/** OpenInference's flattened messages (`llm.input_messages.0.message.role`, …) back into a list. */
function messages(attributes: Attributes, prefix: string): { role: string; content: string }[] {
  const found = new Map<number, { role: string; content: string }>();
  for (const [key, value] of Object.entries(attributes)) {
    const m = key.startsWith(prefix) ? /^\.(\d+)\.message\.(role|content)$/.exec(key.slice(prefix.length)) : null;
    if (!m) continue;
    const entry = found.get(Number(m[1])) ?? { role: "", content: "" };
    entry[m[2] as "role" | "content"] = show(value);
    found.set(Number(m[1]), entry);
  }
  // Nested form (kvlist/array values) is read as well.
  const nested = attributes[prefix];
  if (Array.isArray(nested))
    nested.forEach((item, i) => {
      const message = (item as { message?: { role?: unknown; content?: unknown } })?.message;
      if (message) found.set(i, { role: show(message.role ?? ""), content: show(message.content ?? "") });
    });
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

function SpanDetail({
  span,
  traceAnnotations,
  resource,
  scope,
}: {
  span: SpanNode;
  traceAnnotations: Annotation[];
  resource: Attributes | undefined;
  scope: Scope | undefined;
}) {
  const a = span.attributes;
  const template = a["llm.prompt_template.template"];
  const variablesText = a["llm.prompt_template.variables"];
  let variables: Record<string, unknown> | null = null;
  if (typeof variablesText === "string")
    try {
      const parsed: unknown = JSON.parse(variablesText);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) variables = parsed as Record<string, unknown>;
    } catch {
      variables = null;
    }
  const input = messages(a, "llm.input_messages");
  const output = messages(a, "llm.output_messages");
  const exceptions = span.events.filter((e) => e.name === "exception");
  const startMs = nsToMs(span.startTimeUnixNano);

  return (
    <section className="span-detail" aria-labelledby="span-title">
      <h2 id="span-title">
        {span.name} <StatusBadge span={span} />
      </h2>
      {span.failed && (
        <div className="error-box" data-testid="span-error">
          <strong>Why it failed: </strong>
          {exceptions.length > 0
            ? exceptions.map((e, i) => (
                <div key={i} className="exception">
                  {e.attributes["exception.type"] !== undefined && <code>{show(e.attributes["exception.type"])}</code>}{" "}
                  <span className="exception-message">
                    {show(e.attributes["exception.message"] ?? span.errorMessage ?? "")}
                  </span>
                  {typeof e.attributes["exception.stacktrace"] === "string" && (
                    <details>
                      <summary>Stack trace</summary>
                      <pre className="output">{e.attributes["exception.stacktrace"]}</pre>
                    </details>
                  )}
                </div>
              ))
            : (span.errorMessage ?? "the span's status is error")}
        </div>
      )}

      <dl className="facts">
        <dt>Span</dt>
        <dd>
          <code>{span.spanId}</code> · {span.spanKind ?? "no kind"} · <Time iso={span.startTime} /> ·{" "}
          {ms(span.latencyMs)}
        </dd>
        {span.promptName && (
          <>
            <dt>Prompt version</dt>
            <dd>
              <VersionLink span={span} />
              {span.label && <> · via label {span.label}</>}
              {span.source && <> · source {span.source}</>}
            </dd>
          </>
        )}
        {span.model && (
          <>
            <dt>Model</dt>
            <dd>{span.model}</dd>
          </>
        )}
        {(span.tokensTotal !== null || span.costUsd !== null) && (
          <>
            <dt>Tokens and cost</dt>
            <dd>
              {int(span.tokensPrompt)} prompt + {int(span.tokensCompletion)} completion = {int(span.tokensTotal)} tokens
              · {usd(span.costUsd)}
            </dd>
          </>
        )}
        {(span.sessionId || span.userId) && (
          <>
            <dt>Session / user</dt>
            <dd>
              {span.sessionId ? (
                <Link to={`/traces?session=${encodeURIComponent(span.sessionId)}`}>{span.sessionId}</Link>
              ) : (
                "—"
              )}{" "}
              / {span.userId ? <Link to={`/traces?user=${encodeURIComponent(span.userId)}`}>{span.userId}</Link> : "—"}
            </dd>
          </>
        )}
      </dl>

      {(typeof template === "string" || variables) && (
        <div className="split even">
          {typeof template === "string" && (
            <div>
              <h3>Template</h3>
              <pre className="template" tabIndex={0} role="region" aria-label="Template">
                {template}
              </pre>
            </div>
          )}
          {variables && (
            <div>
              <h3>Variables</h3>
              <AttributeTable
                attributes={variables}
                caption="Variables the template was rendered with"
                sorted={false}
              />
            </div>
          )}
        </div>
      )}
      {(input.length > 0 || output.length > 0) && (
        <div className="split even">
          {input.length > 0 && <Messages title="Rendered input" list={input} />}
          {output.length > 0 && <Messages title="Output" list={output} />}
        </div>
      )}

      <Annotations span={span} traceAnnotations={traceAnnotations} />

      {span.events.length > 0 && (
        <>
          <h3>Events</h3>
          <ol className="events">
            {span.events.map((e, i) => (
              <li key={i}>
                <strong>{e.name}</strong> <span className="muted small">+{ms(nsToMs(e.timeUnixNano) - startMs)}</span>
                <AttributeTable attributes={e.attributes} caption={`Attributes of event ${e.name}`} />
              </li>
            ))}
          </ol>
        </>
      )}
      <h3>Attributes</h3>
      <AttributeTable attributes={span.attributes} caption="Span attributes" />
      <details>
        <summary>Resource attributes</summary>
        <AttributeTable attributes={resource ?? {}} caption="Resource attributes" />
      </details>
      {scope && (
        <details>
          <summary>
            Instrumentation scope: {scope.name || "unnamed"}
            {scope.version && ` ${scope.version}`}
          </summary>
          <AttributeTable attributes={scope.attributes} caption="Instrumentation scope attributes" />
        </details>
      )}
    </section>
  );
}

function Messages({ title, list }: { title: string; list: { role: string; content: string }[] }) {
  return (
    <div>
      <h3>{title}</h3>
      <ol className="chat-template">
        {list.map((m, i) => (
          <li key={i} className="chat-item">
            <span className="chat-role">{m.role || "message"}</span>
            <pre className="template">{m.content}</pre>
          </li>
        ))}
      </ol>
    </div>
  );
}

/** A key/value table; `sorted: false` keeps the given order (a template's variables, as rendered). */
function AttributeTable({
  attributes,
  caption,
  sorted = true,
}: {
  attributes: Record<string, unknown>;
  caption: string;
  sorted?: boolean;
}) {
  const entries = Object.entries(attributes);
  if (sorted) entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  if (entries.length === 0) return <p className="muted small">none</p>;
  return (
    <table className="compact kv">
      <caption className="visually-hidden">{caption}</caption>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">
              <code>{k}</code>
            </th>
            <td>
              <pre className="value">{show(v)}</pre>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Thumb({ up }: { up: boolean }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
      <path
        transform={up ? undefined : "rotate(180 8 8)"}
        fill="currentColor"
        d="M2 7h2.5v7H2zM6 14V7l3-5.5c.9 0 1.6.8 1.4 1.7L9.8 6H14c.8 0 1.4.8 1.2 1.6l-1.3 5.2c-.2.7-.8 1.2-1.5 1.2z"
      />
    </svg>
  );
}

const detailText = (v: unknown): string | null =>
  typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null;

/**
 * An evaluator's result: its status (skipped and error are no verdict), the evaluator's reason, the revision of the
 * definition that judged it, and for a judge, the judge prompt's version and the model that answered.
 */
function EvalAnnotation({ annotation: x, wholeTrace }: { annotation: Annotation; wholeTrace: boolean }) {
  const d = x.details ?? {};
  const judgePrompt = detailText(d.judgePrompt);
  const judgeVersion = detailText(d.judgeVersion);
  const model = detailText(d.model);
  const connection = detailText(d.connection);
  return (
    <li
      className={`eval-annotation ${x.status === "failed" ? "annotation-fail" : x.status === "passed" ? "annotation-pass" : ""}`}
      data-testid={`eval-annotation-${x.name}`}
    >
      <EvalStatusBadge status={x.status!} />{" "}
      <Link to={`/evaluators/${encodeURIComponent(x.name)}`}>
        <code>{x.name}</code>
      </Link>{" "}
      <span className="muted small">
        eval · revision {x.revision ?? "?"}
        {x.score !== null && <> · score {x.score}</>}
        {wholeTrace && <> · whole trace</>}
      </span>
      {x.comment && <blockquote className="reason">{x.comment}</blockquote>}
      {(judgePrompt || model || connection) && (
        <span className="muted small eval-annotation-meta" data-testid="judge-details">
          {judgePrompt && (
            <>
              judged by{" "}
              {judgeVersion ? (
                <Link to={promptHref(judgePrompt, "versions", { version: judgeVersion })}>
                  {judgePrompt} <span className="semver">{judgeVersion}</span>
                </Link>
              ) : (
                judgePrompt
              )}
            </>
          )}
          {model && <> · model {model}</>}
          {connection && <> · connection {connection}</>}
        </span>
      )}
      <span className="muted small">
        {" "}
        <Time iso={x.updatedAt} />
      </span>
    </li>
  );
}

function Annotations({ span, traceAnnotations }: { span: SpanNode; traceAnnotations: Annotation[] }) {
  const session = useSession();
  const queryClient = useQueryClient();
  const [name, setName] = useState("helpful");
  const [passed, setPassed] = useState<boolean | null>(null);
  const [comment, setComment] = useState("");
  const save = useMutation({
    mutationFn: () =>
      api("/annotations", AnnotationListSchema, {
        method: "POST",
        body: {
          annotations: [
            {
              traceId: span.traceId,
              spanId: span.spanId,
              name,
              kind: "human",
              passed,
              score: passed ? 1 : 0,
              ...(comment.trim() ? { comment: comment.trim() } : {}),
            },
          ],
        },
      }),
    onSuccess: async () => {
      setComment("");
      setPassed(null);
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["trace", span.traceId] }),
        queryClient.invalidateQueries({ queryKey: ["compare"] }),
        queryClient.invalidateQueries({ queryKey: ["timeseries"] }),
      ]);
    },
  });
  const all = [...span.annotations, ...traceAnnotations.map((x) => ({ ...x, wholeTrace: true }))];
  const nameOk = /^[A-Za-z0-9_.:-]{1,100}$/.test(name);
  return (
    <section aria-labelledby="annotations-title" className="annotations">
      <h3 id="annotations-title">Annotations</h3>
      {all.length === 0 ? (
        <p className="muted small">No annotations on this span yet.</p>
      ) : (
        <ul className="annotation-list">
          {all.map((x, i) =>
            x.kind === "eval" && x.status !== null ? (
              <EvalAnnotation key={i} annotation={x} wholeTrace={"wholeTrace" in x} />
            ) : (
              <li key={i} className={x.passed === false ? "annotation-fail" : x.passed ? "annotation-pass" : undefined}>
                {x.passed !== null && (
                  <span className="thumb">
                    <Thumb up={x.passed} />
                    <span className="visually-hidden">{x.passed ? "passed" : "failed"}</span>
                  </span>
                )}{" "}
                <code>{x.name}</code> <span className="muted small">{x.kind}</span>
                {x.score !== null && <span className="muted small"> · score {x.score}</span>}
                {x.label && <span className="muted small"> · {x.label}</span>}
                {"wholeTrace" in x && <span className="muted small"> · whole trace</span>}
                {x.comment && <blockquote className="reason">{x.comment}</blockquote>}
                <span className="muted small">
                  {" "}
                  <Time iso={x.updatedAt} />
                </span>
              </li>
            ),
          )}
        </ul>
      )}
      {can(session, "write") ? (
        <form
          className="annotate"
          aria-label="Annotate this span"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value.trim())} size={14} aria-invalid={!nameOk} />
          </label>
          <div className="thumbs" role="group" aria-label="Verdict">
            <button type="button" aria-pressed={passed === true} onClick={() => setPassed(true)}>
              <Thumb up /> Thumbs up
            </button>
            <button type="button" aria-pressed={passed === false} onClick={() => setPassed(false)}>
              <Thumb up={false} /> Thumbs down
            </button>
          </div>
          <label className="grow">
            Comment (optional)
            <textarea value={comment} onChange={(e) => setComment(e.target.value)} rows={2} />
          </label>
          <button type="submit" className="primary" disabled={passed === null || !nameOk || save.isPending}>
            {save.isPending ? "Saving…" : "Save annotation"}
          </button>
          {save.isError && <ErrorBox error={save.error} />}
          {save.isSuccess && (
            <p role="status" className="muted small">
              Saved. A comparison with failure = annotation:{name} now counts it.
            </p>
          )}
        </form>
      ) : (
        <p className="muted small">Annotating needs a key with the write role.</p>
      )}
    </section>
  );
}
