import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { FolderListSchema, PromptListSchema } from "@promptreg/client/contract";
import { api } from "../api";
import { EmptyState, ErrorBox, Icon, LabelBadge, Loading, TableHead, Time } from "../components/ui";
import { can, useSession } from "../session";

const PAGE_SIZE = 50;

export function PromptList() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const folder = params.get("folder") ?? "";
  const q = params.get("q") ?? "";
  const tag = params.get("tag") ?? "";
  const cursor = params.get("cursor") ?? "";
  const [search, setSearch] = useState(q);

  // The search box updates the address (a deep link) once typing pauses, not on every key.
  useEffect(() => {
    if (search === q) return;
    const t = setTimeout(() => update({ q: search }), 250);
    return () => clearTimeout(t);
  });

  function update(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("cursor" in changes)) next.delete("cursor");
    // Typing in a filter replaces the history entry; following a folder or a page adds one.
    setParams(next, { replace: "q" in changes || "tag" in changes });
  }

  const list = useQuery({
    queryKey: ["prompts", { folder, q, tag, cursor }],
    queryFn: () => api("/prompts", PromptListSchema, { query: { prefix: folder, q, tag, cursor, limit: PAGE_SIZE } }),
    placeholderData: keepPreviousData,
  });
  const folders = useQuery({
    queryKey: ["folders", folder],
    queryFn: () => api("/folders", FolderListSchema, { query: { prefix: folder } }),
  });

  const crumbs = folder ? folder.split("/") : [];
  const filtered = q !== "" || tag !== "";

  return (
    <section>
      <div className="page-head">
        <h1>Prompts</h1>
        {can(session, "write") && (
          <Link className="button primary" to={folder ? `/new?folder=${encodeURIComponent(folder)}` : "/new"}>
            New prompt
          </Link>
        )}
      </div>

      <nav aria-label="Folder" className="breadcrumbs">
        <Link to="/prompts">All prompts</Link>
        {crumbs.map((part, i) => {
          const path = crumbs.slice(0, i + 1).join("/");
          return (
            <span key={path}>
              {" / "}
              {i === crumbs.length - 1 ? (
                <span aria-current="page">{part}</span>
              ) : (
                <Link to={`/prompts?folder=${encodeURIComponent(path)}`}>{part}</Link>
              )}
            </span>
          );
        })}
      </nav>

      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search names
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="e.g. triage" />
        </label>
        <label>
          Tag
          <input type="text" value={tag} onChange={(e) => update({ tag: e.target.value.trim() })} placeholder="any" />
        </label>
      </form>

      {folders.data && folders.data.data.length > 0 && !filtered && (
        <ul className="folders" aria-label="Folders">
          {folders.data.data.map((f) => (
            <li key={f.name}>
              <Link to={`/prompts?folder=${encodeURIComponent(f.name)}`}>
                <Icon name="folder" /> {f.name.slice(folder ? folder.length + 1 : 0)}
                <span className="muted"> · {f.prompts}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}

      {list.isPending ? (
        <Loading label="Loading prompts" />
      ) : list.isError ? (
        <ErrorBox error={list.error} />
      ) : list.data.data.length === 0 ? (
        filtered || folder ? (
          <EmptyState title="No prompt matches">
            <p>
              Nothing here matches {q && <>“{q}”</>} {tag && <>tag “{tag}”</>}. Clear the filters or look in another
              folder.
            </p>
          </EmptyState>
        ) : (
          <EmptyState title="No prompts yet">
            <p>
              {can(session, "write") ? (
                <>
                  Publish the first one with <Link to="/new">New prompt</Link>, or from a shell:
                </>
              ) : (
                "Prompts published with a write key appear here. From a shell:"
              )}
            </p>
            <pre className="snippet">{`curl -s -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
  ${location.origin}/api/v1/prompts/support%2Ftriage/versions \\
  -d '{"template": "Classify: {{question}}", "commitMessage": "first cut"}'`}</pre>
          </EmptyState>
        )
      ) : (
        <>
          <table className="list">
            <TableHead
              caption={`Prompts${folder ? ` in ${folder}` : ""}`}
              columns={["Name", "Labels", "Versions", "Last change"]}
            />
            <tbody>
              {list.data.data.map((p) => {
                const shown = folder && p.name.startsWith(`${folder}/`) ? p.name.slice(folder.length + 1) : p.name;
                const slash = shown.lastIndexOf("/");
                return (
                  <tr key={p.id}>
                    <td>
                      <Link to={`/prompts/${p.name}`} className="prompt-name">
                        {slash >= 0 && <span className="muted">{shown.slice(0, slash + 1)}</span>}
                        {shown.slice(slash + 1)}
                      </Link>
                      <span className="muted small"> {p.type}</span>
                      {p.tags.length > 0 && (
                        <span className="tags">
                          {p.tags.map((t) => (
                            <button
                              key={t}
                              type="button"
                              className="tag"
                              onClick={() => update({ tag: t })}
                              title={`Show prompts tagged ${t}`}
                            >
                              #{t}
                            </button>
                          ))}
                        </span>
                      )}
                    </td>
                    <td>
                      <span className="badges">
                        {Object.entries(p.labels)
                          .sort(([a], [b]) => (a === "production" ? -1 : b === "production" ? 1 : a.localeCompare(b)))
                          .map(([label, version]) => (
                            <LabelBadge
                              key={label}
                              name={label}
                              version={version}
                              isProtected={session.protectedLabels.includes(label)}
                            />
                          ))}
                      </span>
                    </td>
                    <td>{p.versionCount}</td>
                    <td>
                      <Time iso={p.updatedAt} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            {cursor && (
              <button type="button" onClick={() => update({ cursor: "" })}>
                ← First page
              </button>
            )}
            {list.data.nextCursor && (
              <button type="button" onClick={() => update({ cursor: list.data.nextCursor! })}>
                Next page →
              </button>
            )}
          </nav>
        </>
      )}
    </section>
  );
}
