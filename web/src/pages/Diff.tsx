// Two versions side by side: the bump first (the answer), then the template, the variable contract and the config.
import { useQuery } from "@tanstack/react-query";
import { html as diffHtml } from "diff2html";
import "diff2html/bundles/css/diff2html.min.css";
import { useLayoutEffect, useMemo, useRef } from "react";
import { useSearchParams } from "react-router";
import { VersionDiffSchema, type PromptDetail, type VersionDiff } from "@promptreg/client/contract";
import { api, promptPath } from "../api";
import { EmptyState, ErrorBox, Loading, TableHead } from "../components/ui";
import { useVersions } from "./Versions";

const show = (value: unknown) => (value === undefined ? "—" : JSON.stringify(value));

export default function Diff({ prompt }: { prompt: PromptDetail }) {
  const [params, setParams] = useSearchParams();
  const versions = useVersions(prompt.name);
  const all = versions.data?.pages.flatMap((p) => p.data.map((v) => v.version)) ?? [];
  const to = params.get("to") ?? all[0] ?? "";
  const from = params.get("from") ?? all[1] ?? all[0] ?? "";
  const diff = useQuery({
    queryKey: ["diff", prompt.name, from, to],
    queryFn: () => api(`${promptPath(prompt.name)}/diff`, VersionDiffSchema, { query: { from, to } }),
    enabled: from !== "" && to !== "",
    staleTime: Infinity,
  });

  if (versions.isPending) return <Loading label="Loading versions" />;
  if (all.length < 2 && !params.get("from"))
    return (
      <EmptyState title="Only one version">
        <p>A diff needs two versions. Publish a change, then compare it here.</p>
      </EmptyState>
    );

  const picker = (name: "from" | "to", value: string) => (
    <label className="inline">
      {name === "from" ? "From" : "To"}{" "}
      <select value={value} onChange={(e) => setParams({ from, to, [name]: e.target.value })}>
        {[...new Set([value, ...all])].map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <div>
      <div className="filters">
        {picker("from", from)}
        {picker("to", to)}
        <button type="button" onClick={() => setParams({ from: to, to: from })}>
          Swap
        </button>
      </div>
      {diff.isPending ? (
        <Loading label="Comparing" />
      ) : diff.isError ? (
        <ErrorBox error={diff.error} />
      ) : (
        <DiffView diff={diff.data} />
      )}
    </div>
  );
}

function DiffView({ diff }: { diff: VersionDiff }) {
  const templateHtml = useMemo(
    () =>
      diffHtml(diff.template.unified, {
        outputFormat: "side-by-side",
        drawFileList: false,
        matching: "lines",
        colorScheme: "auto" as NonNullable<Parameters<typeof diffHtml>[1]>["colorScheme"],
      }),
    [diff.template.unified],
  );
  const view = useRef<HTMLDivElement>(null);
  useAlignedRows(view, templateHtml);
  const v = diff.variables;
  const contractChanged = v.added.length + v.removed.length + v.changed.length > 0;
  return (
    <>
      <p className="verdict" role="status">
        {diff.identical ? (
          <>
            {diff.from.version} and {diff.to.version} have identical content.
          </>
        ) : diff.requiredBump ? (
          <>
            {diff.from.version} → {diff.to.version} needs a <strong>{diff.requiredBump.bump}</strong> bump:{" "}
            {diff.requiredBump.reasons.join("; ")}.
          </>
        ) : null}
      </p>

      <h2>Template</h2>
      {diff.template.changed ? (
        // biome-ignore lint/security/noDangerouslySetInnerHtml: diff2html escapes the template text; the markup is its own.
        <div className="diff-view" ref={view} dangerouslySetInnerHTML={{ __html: templateHtml }} />
      ) : (
        <p className="muted">The template is unchanged.</p>
      )}

      <h2>Variable contract</h2>
      {!contractChanged ? (
        <p className="muted">No variable added, removed or changed.</p>
      ) : (
        <table className="compact">
          <TableHead columns={["Variable", "Change", diff.from.version, diff.to.version]} />
          <tbody>
            {v.added.map((x) => (
              <tr key={`a-${x.name}`} className="added">
                <td>
                  <code>{x.name}</code>
                </td>
                <td>added</td>
                <td>—</td>
                <td>
                  {x.required ? "required" : "optional"}
                  {x.type ? `, ${x.type}` : ""}
                </td>
              </tr>
            ))}
            {v.removed.map((x) => (
              <tr key={`r-${x.name}`} className="removed">
                <td>
                  <code>{x.name}</code>
                </td>
                <td>removed</td>
                <td>
                  {x.required ? "required" : "optional"}
                  {x.type ? `, ${x.type}` : ""}
                </td>
                <td>—</td>
              </tr>
            ))}
            {v.changed.map((x) => (
              <tr key={`c-${x.name}`} className="changed">
                <td>
                  <code>{x.name}</code>
                </td>
                <td>changed</td>
                <td>
                  {x.from.required ? "required" : "optional"}
                  {x.from.type ? `, ${x.from.type}` : ""}
                </td>
                <td>
                  {x.to.required ? "required" : "optional"}
                  {x.to.type ? `, ${x.to.type}` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Config</h2>
      <ChangeTable
        changes={diff.config}
        from={diff.from.version}
        to={diff.to.version}
        empty="The config is unchanged."
      />
      {diff.variablesSchema.length > 0 && (
        <>
          <h2>Variables JSON Schema</h2>
          <ChangeTable changes={diff.variablesSchema} from={diff.from.version} to={diff.to.version} empty="" />
        </>
      )}
    </>
  );
}

/**
 * Prose lines wrap in the side-by-side diff (styles.css), so that a long line is read whole instead of cut at the
 * edge. diff2html draws each side as a table of its own, row for row: a line that wraps to more rows on one side
 * would push every row below it out of line with the other side, so each pair of rows gets the taller one's height,
 * again whenever the width changes.
 */
function useAlignedRows(view: React.RefObject<HTMLDivElement | null>, html: string) {
  useLayoutEffect(() => {
    const root = view.current;
    if (!root || !html) return;
    const align = () => {
      const [left, right] = [...root.querySelectorAll(".d2h-file-side-diff")].map((side) => [
        ...side.querySelectorAll<HTMLTableRowElement>("tr"),
      ]);
      if (!left || !right) return;
      for (const row of [...left, ...right]) row.style.height = "";
      const heights = left.map((row, i) =>
        Math.max(row.getBoundingClientRect().height, right[i]?.getBoundingClientRect().height ?? 0),
      );
      heights.forEach((height, i) => {
        left[i]!.style.height = `${height}px`;
        if (right[i]) right[i].style.height = `${height}px`;
      });
    };
    align();
    const resize = new ResizeObserver(align);
    resize.observe(root);
    return () => resize.disconnect();
  }, [view, html]);
}

function ChangeTable({
  changes,
  from,
  to,
  empty,
}: {
  changes: VersionDiff["config"];
  from: string;
  to: string;
  empty: string;
}) {
  if (changes.length === 0) return <p className="muted">{empty}</p>;
  return (
    <table className="compact">
      <TableHead columns={["Key", "Change", from, to]} />
      <tbody>
        {changes.map((c) => (
          <tr key={c.path} className={c.change}>
            <td>
              <code>{c.path}</code>
            </td>
            <td>{c.change}</td>
            <td>
              <code>{show(c.from)}</code>
            </td>
            <td>
              <code>{show(c.to)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
