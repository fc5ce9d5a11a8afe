// The editor: text or chat (with placeholders), and before saving, the version it will become and why, from a dry
// run of the very publish the button would send.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import {
  CHAT_ROLES,
  PROMPT_NAME_PATTERN,
  PromptVersionSchema,
  PublishPreviewSchema,
  TemplateErrorDetailsSchema,
  type ChatRole,
  type ChatTemplateItem,
  type PromptDetail,
  type PromptType,
  type PublishPreview,
  type Template,
} from "@promptreg/client/contract";
import { ApiError, api, promptPath } from "../api";
import { TemplateEditor } from "../components/TemplateEditor";
import { ErrorBox, Loading } from "../components/ui";
import { promptHref } from "./PromptRoute";

const ROLES: readonly string[] = CHAT_ROLES;
const PREVIEW_DELAY_MS = 400;

type ChatItem =
  | { key: number; kind: "message"; role: string; content: string }
  | { key: number; kind: "placeholder"; name: string };

let nextKey = 1;
const toItems = (template: ChatTemplateItem[]): ChatItem[] =>
  template.map((t) =>
    "type" in t
      ? { key: nextKey++, kind: "placeholder", name: t.name }
      : { key: nextKey++, kind: "message", role: t.role, content: t.content },
  );
const fromItems = (items: ChatItem[]): ChatTemplateItem[] =>
  items.map((i) =>
    i.kind === "placeholder"
      ? { type: "placeholder" as const, name: i.name }
      : { role: i.role as ChatRole, content: i.content },
  );

export default function Publish({ prompt }: { prompt?: PromptDetail }) {
  const latest = useQuery({
    queryKey: ["resolve", prompt?.name, "latest"],
    queryFn: () => api(`${promptPath(prompt!.name)}/resolve`, PromptVersionSchema, { query: { ref: "latest" } }),
    enabled: !!prompt && prompt.versions.count > 0,
  });
  if (prompt && prompt.versions.count > 0) {
    if (latest.isPending) return <Loading label="Loading the latest version" />;
    if (latest.isError) return <ErrorBox error={latest.error} />;
  }
  const base = latest.data;
  return (
    <PublishForm
      key={base?.version ?? "new"}
      prompt={prompt}
      initial={{
        type: prompt?.type ?? "text",
        template: base?.template ?? (prompt?.type === "chat" ? [{ role: "system", content: "" }] : ""),
        config: base ? JSON.stringify(base.config, null, 2) : "{}",
        variablesSchema: base?.variablesSchema ? JSON.stringify(base.variablesSchema, null, 2) : "",
      }}
      baseVersion={base?.version}
    />
  );
}

function parseJsonObject(text: string, what: string): { value?: Record<string, unknown>; error?: string } {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) return { error: `${what} must be a JSON object` };
    return { value: value as Record<string, unknown> };
  } catch (err) {
    return { error: `${what} is not valid JSON: ${(err as Error).message}` };
  }
}

function PublishForm({
  prompt,
  initial,
  baseVersion,
}: {
  prompt?: PromptDetail;
  initial: { type: PromptType; template: Template; config: string; variablesSchema: string };
  baseVersion?: string;
}) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const [name, setName] = useState(prompt?.name ?? (params.get("folder") ? `${params.get("folder")}/` : ""));
  const [type, setType] = useState<PromptType>(initial.type);
  const [text, setText] = useState(typeof initial.template === "string" ? initial.template : "");
  const [items, setItems] = useState<ChatItem[]>(
    typeof initial.template === "string"
      ? [{ key: nextKey++, kind: "message", role: "system", content: "" }]
      : toItems(initial.template),
  );
  const [config, setConfig] = useState(initial.config);
  const [schema, setSchema] = useState(initial.variablesSchema);
  const [commitMessage, setCommitMessage] = useState("");
  const [preview, setPreview] = useState<{ ok: PublishPreview } | { error: unknown } | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [publishError, setPublishError] = useState<unknown>(null);
  const sequence = useRef(0);

  const nameValid = PROMPT_NAME_PATTERN.test(name) && name.length <= 255;
  const configParsed = parseJsonObject(config, "Config");
  const schemaParsed = parseJsonObject(schema, "Variables schema");
  const template: Template = type === "text" ? text : fromItems(items);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the body is rebuilt from its text inputs (see below).
  const body = useMemo(
    () => ({
      template,
      config: configParsed.value ?? {},
      ...(schemaParsed.value ? { variablesSchema: schemaParsed.value } : {}),
      ...(commitMessage ? { commitMessage } : {}),
    }),
    // The body is rebuilt from its text inputs; the JSON text is what identifies it.
    [JSON.stringify(template), config, schema, commitMessage],
  );
  const localError = !nameValid ? "name" : (configParsed.error ?? schemaParsed.error);

  // The preview: a dry run of the publish, shortly after the last keystroke; answers to older bodies are dropped.
  useEffect(() => {
    if (localError) {
      setPreview(null);
      return;
    }
    const id = ++sequence.current;
    const timer = setTimeout(async () => {
      try {
        const ok = await api(`${promptPath(name)}/versions`, PublishPreviewSchema, {
          method: "POST",
          query: { dryRun: true },
          body,
        });
        if (id === sequence.current) setPreview({ ok });
      } catch (error) {
        if (id === sequence.current) setPreview({ error });
      }
    }, PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [body, name, localError]);

  const previewError = preview && "error" in preview ? preview.error : null;
  const location =
    previewError instanceof ApiError && previewError.code === "invalid_template"
      ? TemplateErrorDetailsSchema.safeParse(previewError.details).data
      : undefined;
  const errorFor = (messageIndex?: number) =>
    location && location.messageIndex === messageIndex ? { line: location.line, column: location.column } : null;
  const ready = preview && "ok" in preview && preview.ok.created && !localError;

  async function publish() {
    setPublishing(true);
    setPublishError(null);
    try {
      const version = await api(`${promptPath(name)}/versions`, PromptVersionSchema, { method: "POST", body });
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["prompt", name] }),
        queryClient.invalidateQueries({ queryKey: ["versions", name] }),
        queryClient.invalidateQueries({ queryKey: ["resolve", name] }),
        queryClient.invalidateQueries({ queryKey: ["prompts"] }),
        queryClient.invalidateQueries({ queryKey: ["folders"] }),
      ]);
      navigate(promptHref(name, "versions", { version: version.version }));
    } catch (err) {
      setPublishError(err);
      setPublishing(false);
    }
  }

  const updateItem = (key: number, change: Partial<{ role: string; content: string; name: string }>) =>
    setItems((all) => all.map((i) => (i.key === key ? ({ ...i, ...change } as ChatItem) : i)));
  const moveItem = (index: number, by: number) =>
    setItems((all) => {
      const next = [...all];
      const [item] = next.splice(index, 1);
      next.splice(index + by, 0, item!);
      return next;
    });

  return (
    <form
      className="publish"
      onSubmit={(e) => {
        e.preventDefault();
        if (ready) void publish();
      }}
    >
      {!prompt && (
        <>
          <h1>New prompt</h1>
          <div className="row">
            <div className="grow">
              <label>
                Name
                <input
                  value={name}
                  onChange={(e) => setName(e.target.value.trim())}
                  required
                  placeholder="folder/name, e.g. support/triage"
                  aria-invalid={name !== "" && !nameValid}
                  aria-describedby="name-help"
                />
              </label>
              <p id="name-help" className="muted small field-help">
                Folders are separated by “/”; letters, digits, “.”, “_” and “-”.
              </p>
            </div>
            <fieldset className="type-choice">
              <legend>Type</legend>
              <label>
                <input type="radio" name="type" checked={type === "text"} onChange={() => setType("text")} /> Text
              </label>
              <label>
                <input type="radio" name="type" checked={type === "chat"} onChange={() => setType("chat")} /> Chat
              </label>
            </fieldset>
          </div>
        </>
      )}
      {prompt && baseVersion && (
        <p className="muted">
          Editing from {baseVersion}, the highest version. The number of the new one follows from what changes.
        </p>
      )}

      <h2>Template</h2>
      <p className="muted small">
        Handlebars: <code>{"{{variable}}"}</code>, <code>{"{{#if x}}…{{/if}}"}</code>,{" "}
        <code>{"{{#each items}}…{{/each}}"}</code>. Every variable used becomes part of the version's contract.
      </p>
      {type === "text" ? (
        <TemplateEditor
          initialValue={text}
          onChange={setText}
          label="Template"
          error={errorFor(undefined)}
          placeholder="You support {{company}}. Classify: {{question}}"
        />
      ) : (
        <ol className="chat-editor">
          {items.map((item, index) => (
            <li key={item.key} className="chat-item">
              <div className="chat-item-head">
                {item.kind === "message" ? (
                  <label className="inline">
                    Role{" "}
                    <select value={item.role} onChange={(e) => updateItem(item.key, { role: e.target.value })}>
                      {[...new Set([item.role, ...ROLES])].map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </label>
                ) : (
                  <label className="inline">
                    Placeholder{" "}
                    <input
                      value={item.name}
                      onChange={(e) => updateItem(item.key, { name: e.target.value.trim() })}
                      placeholder="history"
                      aria-label={`Placeholder ${index + 1} name`}
                    />
                  </label>
                )}
                <span className="spacer" />
                <button
                  type="button"
                  className="small"
                  onClick={() => moveItem(index, -1)}
                  disabled={index === 0}
                  aria-label={`Move item ${index + 1} up`}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() => moveItem(index, 1)}
                  disabled={index === items.length - 1}
                  aria-label={`Move item ${index + 1} down`}
                >
                  ↓
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() => setItems(items.filter((i) => i.key !== item.key))}
                  disabled={items.length === 1}
                  aria-label={`Remove item ${index + 1}`}
                >
                  Remove
                </button>
              </div>
              {item.kind === "message" ? (
                <TemplateEditor
                  initialValue={item.content}
                  onChange={(content) => updateItem(item.key, { content })}
                  label={`Message ${index + 1} (${item.role})`}
                  error={errorFor(index)}
                  minLines={3}
                />
              ) : (
                <p className="muted small">
                  Filled at render time with a list of messages (e.g. the conversation so far).
                </p>
              )}
            </li>
          ))}
          <li className="chat-add">
            <button
              type="button"
              onClick={() => setItems([...items, { key: nextKey++, kind: "message", role: "user", content: "" }])}
            >
              Add a message
            </button>
            <button
              type="button"
              onClick={() => setItems([...items, { key: nextKey++, kind: "placeholder", name: "history" }])}
            >
              Add a placeholder
            </button>
          </li>
        </ol>
      )}

      <div className="row">
        <label className="grow">
          Config (JSON: model, temperature, …)
          <textarea
            className="mono"
            rows={5}
            value={config}
            onChange={(e) => setConfig(e.target.value)}
            aria-invalid={!!configParsed.error}
            spellCheck={false}
          />
        </label>
        <label className="grow">
          Variables JSON Schema (optional: types the variables)
          <textarea
            className="mono"
            rows={5}
            value={schema}
            onChange={(e) => setSchema(e.target.value)}
            aria-invalid={!!schemaParsed.error}
            spellCheck={false}
            placeholder='{"type": "object", "properties": {"tier": {"type": "string"}}}'
          />
        </label>
      </div>
      <label>
        Commit message
        <input
          value={commitMessage}
          onChange={(e) => setCommitMessage(e.target.value)}
          placeholder="What changed and why"
        />
      </label>

      <div className="preview" role="region" aria-live="polite" aria-label="Preview">
        {localError ? (
          <p className="muted">
            {localError === "name" ? "Give the prompt a valid name to see its version." : localError}
          </p>
        ) : !preview ? (
          <p className="muted">Checking…</p>
        ) : "ok" in preview ? (
          preview.ok.created ? (
            <p className="verdict" data-testid="preview-verdict">
              <strong className="semver">{preview.ok.version.version}</strong>
              {preview.ok.requiredBump && (
                <>
                  :{" "}
                  {preview.ok.previousVersion
                    ? `${preview.ok.requiredBump.bump} change from ${preview.ok.previousVersion}, `
                    : ""}
                  {preview.ok.requiredBump.reasons.join("; ")}
                </>
              )}
            </p>
          ) : (
            <p className="verdict">
              No change: this is {preview.ok.version.version} exactly, so publishing would create nothing.
            </p>
          )
        ) : (
          <div className="error-box" role="alert">
            {location ? (
              <>
                {/* The server's message says where (line and column, 1-based, as the editor marks it): not twice. */}
                <strong>
                  Template error{location.messageIndex !== undefined ? ` in message ${location.messageIndex + 1}` : ""}:
                </strong>
                <pre className="error-detail">{(previewError as Error).message.replace(/^messages\[\d+\]: /, "")}</pre>
              </>
            ) : (
              (previewError as Error).message
            )}
          </div>
        )}
      </div>
      {publishError !== null && <ErrorBox error={publishError} title="Not published" />}
      <div className="form-actions">
        {prompt && <Link to={promptHref(prompt.name)}>Cancel</Link>}
        <button type="submit" className="primary" disabled={!ready || publishing}>
          {publishing ? "Publishing…" : ready ? `Publish ${preview.ok.version.version}` : "Publish"}
        </button>
      </div>
    </form>
  );
}
