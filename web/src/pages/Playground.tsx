// The Try-it page's model call: the rendered version sent to a connection, the answer shown as it streams, then its
// latency, tokens and trace; the variables and the answer saved as a dataset item.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link } from "react-router";
import {
  ConnectionListSchema,
  DatasetChangeSchema,
  type PlaygroundEvent,
  PlaygroundEventSchema,
} from "@promptreg/client/contract";
import { ApiError, api, apiLines, promptPath } from "../api";
import { ErrorBox } from "../components/ui";
import { datasetHref, datasetPath, useDatasets } from "../datasets/queries";
import { can, useSession } from "../session";

type Final = Extract<PlaygroundEvent, { type: "done" | "error" }>;

export function Playground({
  promptName,
  promptRef,
  variables,
}: {
  promptName: string;
  promptRef: string;
  /** The form's variables as JSON values; throws when one is not valid. */
  variables: () => Record<string, unknown>;
}) {
  const session = useSession();
  const queryClient = useQueryClient();
  const connections = useQuery({
    queryKey: ["connections"],
    queryFn: () => api("/connections", ConnectionListSchema),
    // Only an admin key may read the connections; others type the name.
    enabled: can(session, "admin"),
    retry: false,
  });
  const datasets = useDatasets();
  const [connection, setConnection] = useState("");
  const [output, setOutput] = useState("");
  const [sent, setSent] = useState<Record<string, unknown> | null>(null);
  const [final, setFinal] = useState<Final | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  const [dataset, setDataset] = useState("");
  const [saved, setSaved] = useState<{ dataset: string; version: number } | null>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const stop = useRef<AbortController | null>(null);

  if (!can(session, "write")) return null;
  const list = connections.data?.data;
  const chosen = connection || (list?.length === 1 ? list[0]!.name : "");

  async function send() {
    setError(null);
    setFinal(null);
    setOutput("");
    setSaved(null);
    let vars: Record<string, unknown>;
    try {
      vars = variables();
    } catch (err) {
      setError(err);
      return;
    }
    const controller = new AbortController();
    stop.current = controller;
    setStreaming(true);
    setSent(vars);
    try {
      await apiLines(
        `${promptPath(promptName)}/playground`,
        { ref: promptRef, variables: vars, connection: chosen },
        (line) => {
          const event = PlaygroundEventSchema.parse(line);
          if (event.type === "delta") setOutput((text) => text + event.text);
          else if (event.type === "done" || event.type === "error") setFinal(event);
        },
        controller.signal,
      );
    } catch (err) {
      if (!controller.signal.aborted) setError(err);
    } finally {
      setStreaming(false);
      stop.current = null;
    }
  }

  async function save() {
    if (final?.type !== "done" || !sent) return;
    setSaveError(null);
    try {
      const change = await api(`${datasetPath(dataset)}/items`, DatasetChangeSchema, {
        method: "POST",
        body: { items: [{ variables: sent, expected: final.output }] },
      });
      setSaved({ dataset, version: change.dataset.version });
      await queryClient.invalidateQueries({ queryKey: ["datasets"] });
    } catch (err) {
      setSaveError(err);
    }
  }

  return (
    <section className="playground" aria-labelledby="playground-title">
      <h2 id="playground-title">Send to a model</h2>
      <div className="row">
        <div className="field grow">
          <label htmlFor="pg-connection">Connection</label>
          {list && list.length > 0 ? (
            <select id="pg-connection" value={chosen} onChange={(e) => setConnection(e.target.value)}>
              <option value="">Choose a connection</option>
              {list.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} ({c.model})
                </option>
              ))}
            </select>
          ) : (
            <input
              id="pg-connection"
              value={connection}
              onChange={(e) => setConnection(e.target.value.trim())}
              placeholder="e.g. openai"
              autoComplete="off"
            />
          )}
          <p className="muted small field-note">
            {list
              ? list.length === 0
                ? "No connection yet: an admin adds one in Settings or with POST /api/v1/connections."
                : "The version is rendered with the variables above and sent through it; the call is traced."
              : "Its name: listing the connections needs an admin key."}
          </p>
        </div>
      </div>
      <div className="actions">
        <button type="button" className="primary" disabled={streaming || !chosen} onClick={() => void send()}>
          {streaming ? "Streaming…" : "Send to model"}
        </button>
        {streaming && (
          <button type="button" onClick={() => stop.current?.abort()}>
            Stop
          </button>
        )}
      </div>
      {error !== null && (
        <ErrorBox error={error} title={error instanceof ApiError ? `${error.status} ${error.code}` : undefined} />
      )}
      {(output || streaming) && (
        <pre className="output" tabIndex={0} role="region" aria-label="Model answer" aria-busy={streaming}>
          {output}
        </pre>
      )}
      {final?.type === "error" && <ErrorBox error={new Error(final.message)} title="The model failed midway" />}
      {final && (
        <p className="muted small" data-testid="playground-figures">
          {final.type === "done" && (
            <>
              {final.latencyMs} ms
              {final.firstTokenMs !== null ? ` (first text at ${final.firstTokenMs} ms)` : ""} ·{" "}
              {final.usage.promptTokens ?? "?"} prompt + {final.usage.completionTokens ?? "?"} completion tokens ·{" "}
              {final.model ?? ""} ·{" "}
            </>
          )}
          <Link to={`/traces/${final.traceId}`}>View trace</Link>
        </p>
      )}
      {final?.type === "done" && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <div className="field grow">
            <label htmlFor="pg-dataset">Dataset</label>
            <select id="pg-dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} required>
              <option value="">Choose a dataset</option>
              {(datasets.data?.data ?? []).map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" disabled={!dataset}>
            Save as dataset item
          </button>
        </form>
      )}
      {saveError !== null && <ErrorBox error={saveError} />}
      {saved && (
        <p role="status">
          Saved: <Link to={datasetHref(saved.dataset)}>{saved.dataset}</Link> is now at version {saved.version}.
        </p>
      )}
    </section>
  );
}
