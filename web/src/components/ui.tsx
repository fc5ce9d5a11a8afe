// Small shared pieces. Native elements first (button, dialog, details), so keyboards and screen readers get their
// behaviour for free: <dialog> traps focus while open and gives it back when it closes.
import { useEffect, useRef, useState, type ReactNode } from "react";
import type { Template } from "@promptreg/client/contract";
import { ApiError, errorMessage } from "../api";

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <p className="muted loading" role="status">
      {label}…
    </p>
  );
}

/** The app's one error box; `message` stands for the error's own (a summary of the `children` that detail it). */
export function ErrorBox({
  error,
  title,
  message,
  children,
}: {
  error: unknown;
  title?: string;
  message?: string;
  children?: ReactNode;
}) {
  const api = error instanceof ApiError ? error : null;
  return (
    <div className="error-box" role="alert">
      {title && <strong>{title}: </strong>}
      {message ?? errorMessage(error)}
      {api?.status === 0 && <div className="muted">Check that `npm start` is still running, then reload.</div>}
      {children}
    </div>
  );
}

export function Badge({
  children,
  tone = "neutral",
  title,
}: {
  children: ReactNode;
  tone?: "neutral" | "accent" | "warn" | "ok";
  title?: string;
}) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

/** Small inline icons as SVG: no icon font or emoji, so they look the same on every machine. */
export function Icon({ name }: { name: "lock" | "folder" }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
      {name === "lock" ? (
        <path d="M4 7V5a4 4 0 1 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 1 0-4 0v2z" fill="currentColor" />
      ) : (
        <path d="M1 3h5l2 2h7v9H1z" fill="currentColor" />
      )}
    </svg>
  );
}

export function LabelBadge({ name, version, isProtected }: { name: string; version?: string; isProtected?: boolean }) {
  return (
    <Badge
      tone={name === "production" ? "accent" : name === "latest" ? "neutral" : "ok"}
      title={isProtected ? "protected: only admin keys move it" : undefined}
    >
      {isProtected && (
        <>
          <Icon name="lock" />
          <span className="visually-hidden">protected </span>{" "}
        </>
      )}
      {name}
      {version && <span className="badge-version"> {version}</span>}
    </Badge>
  );
}

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];
const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  for (const [unit, size] of units)
    if (Math.abs(seconds) >= size || unit === "second") return rtf.format(Math.round(seconds / size), unit);
  return iso;
}

/** A time as people read it, with the exact instant on hover and for machines. */
export function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {relativeTime(iso)}
    </time>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="small"
      onClick={async () => {
        await navigator.clipboard.writeText(text).then(
          () => setCopied(true),
          () => setCopied(false),
        );
        setTimeout(() => setCopied(false), 2000);
      }}
    >
      {copied ? "Copied" : label}
    </button>
  );
}

export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <figure className="code-block">
      <figcaption>
        <span>{label}</span>
        <CopyButton text={code} label={`Copy ${label}`} />
      </figcaption>
      <pre tabIndex={0}>
        <code>{code}</code>
      </pre>
    </figure>
  );
}

/** Handlebars text with every {{…}} marked, so the variables stand out from the wording. */
export function HighlightedText({ text }: { text: string }) {
  const parts = text.split(/(\{\{\{?[\s\S]*?\}?\}\})/g);
  return (
    <>
      {parts.map((part, i) =>
        i % 2 === 1 ? (
          <mark key={i} className={/^\{\{[#/^]|^\{\{else/.test(part) ? "hb-block" : "hb-var"}>
            {part}
          </mark>
        ) : (
          part
        ),
      )}
    </>
  );
}

export function TemplateView({ template }: { template: Template }) {
  if (typeof template === "string")
    return (
      <pre className="template" tabIndex={0} role="region" aria-label="Template">
        <HighlightedText text={template} />
      </pre>
    );
  return (
    <ol className="chat-template" aria-label="Chat template">
      {template.map((item, i) =>
        "type" in item ? (
          <li key={i} className="chat-item placeholder">
            <span className="chat-role">placeholder</span> <code>{item.name}</code>
            <span className="muted"> (a list of messages given at render time)</span>
          </li>
        ) : (
          <li key={i} className="chat-item">
            <span className="chat-role">{item.role}</span>
            <pre className="template" tabIndex={0}>
              <HighlightedText text={item.content} />
            </pre>
          </li>
        ),
      )}
    </ol>
  );
}

/**
 * A modal dialog. Every destructive action goes through one: it says what will happen, asks for what it needs,
 * and only then acts.
 */
export function Dialog({
  open,
  title,
  children,
  onClose,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <h2 id="dialog-title">{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

/**
 * The body of a dialog confirming a destructive action: what will happen (`consequence`), the error if `onConfirm`
 * failed, Cancel, and the button that acts (`confirm` names it). `onDone` closes the dialog, after a success too.
 */
export function ConfirmForm({
  consequence,
  confirm,
  onConfirm,
  onDone,
}: {
  consequence: ReactNode;
  confirm: string;
  onConfirm: () => Promise<unknown>;
  onDone: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await onConfirm();
          onDone();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <p className="consequence">{consequence}</p>
      {error !== null && <ErrorBox error={error} />}
      <div className="dialog-actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="danger primary">
          {confirm}
        </button>
      </div>
    </form>
  );
}

/** A column of `TableHead`: its header, or its header and how it is shown. */
export type Column = string | { label: ReactNode; num?: boolean; hidden?: boolean; className?: string };

/**
 * A table's caption and column headers, each a `<th scope="col">` so that a screen reader names a cell by its
 * column. The caption is for screen readers only (the page's heading already says what the table is). `num` aligns
 * a column of figures right, as its cells are; `hidden` names a column (of buttons) for screen readers only.
 */
export function TableHead({ caption, columns }: { caption?: ReactNode; columns: Column[] }) {
  return (
    <>
      {caption !== undefined && <caption className="visually-hidden">{caption}</caption>}
      <thead>
        <tr>
          {columns.map((column, i) => {
            const c = typeof column === "string" ? { label: column } : column;
            const className = [c.num ? "num" : "", c.className ?? ""].filter(Boolean).join(" ");
            return (
              <th scope="col" key={i} className={className || undefined}>
                {c.hidden ? <span className="visually-hidden">{c.label}</span> : c.label}
              </th>
            );
          })}
        </tr>
      </thead>
    </>
  );
}

export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}
