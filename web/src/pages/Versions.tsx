import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import {
  PromptVersionSchema,
  VersionListSchema,
  type PromptDetail,
  type PromptVersion,
} from "@promptreg/client/contract";
import { api, promptPath } from "../api";
import { CodeBlock, EmptyState, ErrorBox, LabelBadge, Loading, TableHead, TemplateView, Time } from "../components/ui";
import { can, useSession } from "../session";
import { promptHref } from "./PromptRoute";

export function useVersions(name: string) {
  return useInfiniteQuery({
    queryKey: ["versions", name],
    queryFn: ({ pageParam }) =>
      api(`${promptPath(name)}/versions`, VersionListSchema, { query: { limit: 50, cursor: pageParam } }),
    initialPageParam: "",
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
}

export function Versions({ prompt }: { prompt: PromptDetail }) {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const versions = useVersions(prompt.name);
  const all = versions.data?.pages.flatMap((p) => p.data) ?? [];
  const selectedName = params.get("version") ?? prompt.versions.latest;
  const labelsOf = (v: string) => prompt.labels.filter((l) => l.version === v);

  if (prompt.versions.count === 0)
    return (
      <EmptyState title="No versions yet">
        {can(session, "write") ? (
          <Link to={promptHref(prompt.name, "publish")}>Publish the first version</Link>
        ) : (
          <p>A key with the write role can publish one.</p>
        )}
      </EmptyState>
    );

  return (
    <div className="split">
      <div className="versions-list">
        <h2>
          Versions <span className="muted">({prompt.versions.count})</span>
        </h2>
        {versions.isPending ? (
          <Loading label="Loading versions" />
        ) : versions.isError ? (
          <ErrorBox error={versions.error} />
        ) : (
          <ol className="version-items">
            {all.map((v) => (
              <li key={v.id} className={v.version === selectedName ? "selected" : undefined}>
                <button
                  type="button"
                  className="version-item"
                  aria-current={v.version === selectedName ? "true" : undefined}
                  onClick={() => setParams({ version: v.version })}
                >
                  <span className="version-line">
                    <strong className="semver">{v.version}</strong>
                    {labelsOf(v.version).map((l) => (
                      <LabelBadge key={l.name} name={l.name} isProtected={l.protected} />
                    ))}
                  </span>
                  <span className="commit">{v.commitMessage || <span className="muted">no message</span>}</span>
                  <span className="muted small">
                    {v.author} · <Time iso={v.createdAt} />
                  </span>
                </button>
              </li>
            ))}
          </ol>
        )}
        {versions.hasNextPage && (
          <button type="button" onClick={() => versions.fetchNextPage()} disabled={versions.isFetchingNextPage}>
            Older versions
          </button>
        )}
      </div>
      {selectedName && (
        <VersionDetail
          prompt={prompt}
          version={selectedName}
          previous={all[all.findIndex((v) => v.version === selectedName) + 1]?.version}
        />
      )}
    </div>
  );
}

function VersionDetail({ prompt, version, previous }: { prompt: PromptDetail; version: string; previous?: string }) {
  const detail = useQuery({
    queryKey: ["version", prompt.name, version],
    queryFn: () => api(`${promptPath(prompt.name)}/versions/${encodeURIComponent(version)}`, PromptVersionSchema),
    staleTime: Infinity, // versions are immutable
  });
  if (detail.isPending) return <Loading label={`Loading ${version}`} />;
  if (detail.isError) return <ErrorBox error={detail.error} />;
  const v = detail.data;
  return (
    <article className="version-detail" aria-labelledby="version-title">
      <div className="page-head">
        <h2 id="version-title">
          {v.version}
          <span className="muted small">
            {" "}
            by {v.author}, <Time iso={v.createdAt} />
          </span>
        </h2>
        <div className="actions">
          {previous && (
            <Link className="button" to={promptHref(prompt.name, "diff", { from: previous, to: v.version })}>
              Diff with {previous}
            </Link>
          )}
          <Link className="button" to={promptHref(prompt.name, "try", { ref: v.version })}>
            Try it
          </Link>
        </div>
      </div>
      {v.commitMessage && <p className="commit-message">{v.commitMessage}</p>}

      <h3>Template</h3>
      <TemplateView template={v.template} />

      <h3>Variables</h3>
      {v.variables.length === 0 ? (
        <p className="muted">This template takes no variables.</p>
      ) : (
        <table className="compact">
          <TableHead columns={["Name", "Required", "Type"]} />
          <tbody>
            {v.variables.map((variable) => (
              <tr key={variable.name}>
                <td>
                  <code>{variable.name}</code>
                </td>
                <td>{variable.required ? "required" : "optional"}</td>
                <td>{variable.type ?? <span className="muted">any</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Config</h3>
      {Object.keys(v.config).length === 0 ? (
        <p className="muted">No config.</p>
      ) : (
        <pre className="json" tabIndex={0}>
          {JSON.stringify(v.config, null, 2)}
        </pre>
      )}
      {v.variablesSchema && (
        <details>
          <summary>Variables JSON Schema</summary>
          <pre className="json" tabIndex={0}>
            {JSON.stringify(v.variablesSchema, null, 2)}
          </pre>
        </details>
      )}

      <h3>Use it</h3>
      <Snippets version={v} />
    </article>
  );
}

function exampleValue(type: string | null): unknown {
  switch (type) {
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    case "array":
      return [];
    case "object":
      return {};
    case "messages":
      return [{ role: "user", content: "…" }];
    default:
      return "…";
  }
}

function Snippets({ version: v }: { version: PromptVersion }) {
  const origin = window.location.origin;
  const production = v.label ?? "production";
  const vars = Object.fromEntries(
    v.variables.filter((x) => !x.name.includes(".")).map((x) => [x.name, exampleValue(x.type)]),
  );
  const entries = Object.entries(vars);
  const varsTs = entries.length
    ? `{ ${entries.map(([k, value]) => `${k}: ${JSON.stringify(value)}`).join(", ")} }`
    : "{}";
  // The typed call for the prompt's type, as the README teaches: render() would give `string | ChatMessage[]`.
  const [result, call, returns] =
    v.type === "chat" ? ["messages", "renderMessages", "its messages"] : ["text", "renderText", "its string"];
  const client = `import { createClient } from "@promptreg/client";

const registry = createClient({ baseUrl: "${origin}", apiKey: process.env.PROMPTREG_API_KEY! });
// In production resolve a label; pin "${v.version}" with { version: "${v.version}" }.
const prompt = await registry.get("${v.name}", { label: "${production}" });
// ${v.name} is a ${v.type} prompt: ${call}() returns ${returns}.
const ${result} = prompt.${call}(${varsTs});`;
  const path = `${origin}/api/v1/prompts/${encodeURIComponent(v.name)}`;
  const curl = `# Resolve exactly this version (or ?ref=production for the label)
curl -s -H "Authorization: Bearer $PROMPTREG_API_KEY" "${path}/resolve?ref=${v.version}"

# Render it on the server
curl -s -H "Authorization: Bearer $PROMPTREG_API_KEY" -H "Content-Type: application/json" \\
  "${path}/render" -d '${JSON.stringify({ ref: v.version, variables: vars })}'`;
  return (
    <>
      <CodeBlock label="TypeScript" code={client} />
      <CodeBlock label="curl" code={curl} />
    </>
  );
}
