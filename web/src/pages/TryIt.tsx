import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router";
import {
  PromptVersionSchema,
  RenderResponseSchema,
  type PromptDetail,
  type RenderResponse,
  type VariableSpec,
} from "@promptreg/client/contract";
import { ApiError, api, promptPath } from "../api";
import { ErrorBox, Loading, TemplateView } from "../components/ui";
import { Playground } from "./Playground";
import { useVersions } from "./Versions";

/**
 * The form's text for each variable, turned into the JSON value its contract type asks for. An empty field is a
 * variable not given, so the server's 422 names it rather than rendering an empty string.
 */
function toValue(spec: VariableSpec, text: string): unknown {
  if (spec.type !== "boolean" && text.trim() === "") return undefined;
  switch (spec.type) {
    case "number":
    case "integer":
      return Number(text);
    case "boolean":
      return text === "true";
    case "array":
    case "object":
    case "messages":
    case "null":
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`variable ${spec.name} must be JSON (${spec.type})`);
      }
    default:
      return text;
  }
}

export function TryIt({ prompt }: { prompt: PromptDetail }) {
  const [params, setParams] = useSearchParams();
  const defaultRef = prompt.labels.some((l) => l.name === "production")
    ? "production"
    : (prompt.versions.latest ?? "latest");
  const ref = params.get("ref") ?? defaultRef;
  const versions = useVersions(prompt.name);
  const resolved = useQuery({
    queryKey: ["resolve", prompt.name, ref],
    queryFn: () => api(`${promptPath(prompt.name)}/resolve`, PromptVersionSchema, { query: { ref } }),
  });
  const [values, setValues] = useState<Record<string, string>>({});
  const [result, setResult] = useState<RenderResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const refs = [
    ...prompt.labels.map((l) => l.name),
    ...(versions.data?.pages.flatMap((p) => p.data.map((v) => v.version)) ?? []),
  ];

  const missing = new Set<string>(
    error instanceof ApiError && error.code === "missing_variables"
      ? (((error.details as { missing?: string[] })?.missing ?? []) as string[])
      : [],
  );

  /** The form's variables as JSON values; throws naming one that is not valid JSON. */
  function variablesOf(variables: VariableSpec[]): Record<string, unknown> {
    const vars: Record<string, unknown> = {};
    for (const spec of variables) {
      const value = toValue(spec, values[spec.name] ?? (spec.type === "boolean" ? "false" : ""));
      if (value !== undefined) vars[spec.name] = value;
    }
    return vars;
  }

  async function render(variables: VariableSpec[]) {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const vars = variablesOf(variables);
      setResult(
        await api(`${promptPath(prompt.name)}/render`, RenderResponseSchema, {
          method: "POST",
          body: { ref, variables: vars },
        }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="split even">
      <div>
        <label className="inline">
          Version or label{" "}
          <select
            value={ref}
            onChange={(e) => {
              setParams({ ref: e.target.value });
              setResult(null);
              setError(null);
            }}
          >
            {[...new Set([ref, ...refs])].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        {resolved.isPending ? (
          <Loading />
        ) : resolved.isError ? (
          <ErrorBox error={resolved.error} />
        ) : (
          <form
            className="variables-form"
            onSubmit={(e) => {
              e.preventDefault();
              void render(resolved.data.variables);
            }}
          >
            <p className="muted">
              {ref !== resolved.data.version ? `${ref} is ${resolved.data.version}. ` : ""}
              {resolved.data.variables.length === 0
                ? "This version takes no variables."
                : "Fill the variables; the server renders, exactly as the client would."}
            </p>
            {resolved.data.variables.map((spec) => {
              const id = `var-${spec.name}`;
              const invalid = missing.has(spec.name);
              const hint = `${spec.required ? "required" : "optional"}${spec.type ? `, ${spec.type}` : ""}${["array", "object", "messages"].includes(spec.type ?? "") ? " (JSON)" : ""}`;
              return (
                <div key={spec.name} className={`field${invalid ? " invalid" : ""}`}>
                  {spec.type === "boolean" ? (
                    <label>
                      <input
                        type="checkbox"
                        checked={values[spec.name] === "true"}
                        onChange={(e) => setValues({ ...values, [spec.name]: String(e.target.checked) })}
                      />{" "}
                      <code>{spec.name}</code> <span className="muted small">{hint}</span>
                    </label>
                  ) : (
                    <>
                      <label htmlFor={id}>
                        <code>{spec.name}</code> <span className="muted small">{hint}</span>
                      </label>
                      {spec.type === "number" || spec.type === "integer" ? (
                        <input
                          id={id}
                          type="number"
                          step={spec.type === "integer" ? 1 : "any"}
                          value={values[spec.name] ?? ""}
                          onChange={(e) => setValues({ ...values, [spec.name]: e.target.value })}
                          aria-invalid={invalid}
                        />
                      ) : (
                        <textarea
                          id={id}
                          rows={spec.type === "string" || spec.type === null ? 2 : 4}
                          value={values[spec.name] ?? ""}
                          onChange={(e) => setValues({ ...values, [spec.name]: e.target.value })}
                          aria-invalid={invalid}
                        />
                      )}
                    </>
                  )}
                </div>
              );
            })}
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Rendering…" : "Render"}
            </button>
          </form>
        )}
      </div>
      <div aria-live="polite">
        <h2>Output</h2>
        {error !== null && (
          <ErrorBox error={error} title={error instanceof ApiError ? `${error.status} ${error.code}` : undefined} />
        )}
        {result && (
          <>
            <p className="muted small">
              {result.prompt.name} {result.prompt.version}
              {result.prompt.label ? ` via ${result.prompt.label}` : ""}
            </p>
            {result.text !== undefined ? (
              <pre className="output" tabIndex={0} role="region" aria-label="Rendered text">
                {result.text}
              </pre>
            ) : (
              <TemplateView template={result.messages ?? []} />
            )}
          </>
        )}
        {!result && error === null && <p className="muted">Render to see the output here.</p>}
        {resolved.isSuccess && (
          <Playground promptName={prompt.name} promptRef={ref} variables={() => variablesOf(resolved.data.variables)} />
        )}
      </div>
    </div>
  );
}
