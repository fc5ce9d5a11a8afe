// A CodeMirror 6 editor for Handlebars templates: the variables stand out from the wording, and a template error
// reported by the server is marked at its line and column.
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from "@codemirror/language";
import { EditorState, StateEffect, StateField, type Range } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  keymap,
  lineNumbers,
  placeholder as placeholderExt,
  type DecorationSet,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { useEffect, useRef } from "react";

interface HbState {
  inTag: boolean;
  inComment: boolean;
}

const BUILT_INS = /^(?:if|unless|each|with|lookup|log|else)\b/;

/** Handlebars as the registry accepts it: mustaches, blocks, comments; everything else is the prompt's text. */
export const handlebars = StreamLanguage.define<HbState>({
  name: "handlebars",
  startState: () => ({ inTag: false, inComment: false }),
  token(stream, state) {
    if (state.inComment) {
      if (stream.skipTo("--}}")) {
        stream.match("--}}");
        state.inComment = false;
      } else stream.skipToEnd();
      return "comment";
    }
    if (!state.inTag) {
      if (stream.match("{{!--")) {
        state.inComment = true;
        return "comment";
      }
      if (stream.match(/^\{\{!.*?\}\}/)) return "comment";
      if (stream.match(/^\{\{\{?~?[#/^>&]?/)) {
        state.inTag = true;
        return "bracket";
      }
      stream.next();
      while (!stream.eol() && !stream.match("{{", false)) stream.next();
      return null;
    }
    if (stream.match(/^~?\}\}\}?/)) {
      state.inTag = false;
      return "bracket";
    }
    if (stream.eatSpace()) return null;
    if (stream.match(BUILT_INS)) return "keyword";
    if (stream.match(/^"(?:[^"\\]|\\.)*"|^'(?:[^'\\]|\\.)*'/)) return "string";
    if (stream.match(/^-?\d+(?:\.\d+)?/)) return "number";
    if (stream.match(/^(?:true|false|null|undefined)\b/)) return "atom";
    if (stream.match(/^(?:\.\.\/)+|^@(?:root|index|key|first|last)\b/)) return "variableName.special";
    if (stream.match(/^[A-Za-z_][\w-]*(?:\.[\w-]+|\.\[[^\]]*\])*/)) return "variableName";
    stream.next();
    return "operator";
  },
});

// Colours come from the page's custom properties, which reach into the editor's shadow root (light and dark).
const highlight = HighlightStyle.define([
  { tag: [tags.variableName, tags.special(tags.variableName)], color: "var(--mark-var)", fontWeight: "600" },
  { tag: tags.keyword, color: "var(--mark-block)", fontWeight: "600" },
  { tag: tags.bracket, color: "var(--fg-muted)" },
  { tag: tags.comment, color: "var(--fg-muted)", fontStyle: "italic" },
  { tag: [tags.string, tags.number, tags.atom], color: "var(--ok)" },
]);

const theme = EditorView.theme({
  "&": { fontSize: "13px", backgroundColor: "var(--bg)", color: "var(--fg)" },
  "&.cm-focused": { outline: "2px solid var(--focus)" },
  ".cm-content": { fontFamily: "var(--mono)", caretColor: "var(--fg)" },
  ".cm-cursor": { borderLeftColor: "var(--fg)" },
  ".cm-gutters": {
    backgroundColor: "var(--bg-soft)",
    color: "var(--fg-muted)",
    borderRight: "1px solid var(--border)",
  },
  ".cm-placeholder": { color: "var(--fg-muted)" },
  ".cm-error-line": { backgroundColor: "var(--danger-soft)" },
  ".cm-error-mark": { outline: "1px solid var(--danger)", textDecoration: "underline wavy var(--danger)" },
});

export interface EditorError {
  line: number;
  column?: number;
}

const setError = StateEffect.define<EditorError | null>();

const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decorations, tr) {
    for (const effect of tr.effects) {
      if (!effect.is(setError)) continue;
      const error = effect.value;
      if (!error || error.line < 1 || error.line > tr.state.doc.lines) return Decoration.none;
      const line = tr.state.doc.line(error.line);
      const marks: Range<Decoration>[] = [Decoration.line({ class: "cm-error-line" }).range(line.from)];
      if (error.column !== undefined) {
        const at = Math.min(line.from + error.column - 1, line.to);
        if (at < line.to) marks.push(Decoration.mark({ class: "cm-error-mark" }).range(at, at + 1));
      }
      return Decoration.set(marks, true);
    }
    return decorations.map(tr.changes);
  },
  provide: (field) => EditorView.decorations.from(field),
});

/**
 * Uncontrolled: the editor owns its document from `initialValue` on and reports every change. Pushing React state
 * back into it would race with typing (a render of an older value would undo the keystrokes typed since); to start
 * over, give the component a new `key`.
 */
export function TemplateEditor({
  initialValue,
  onChange,
  label,
  error,
  placeholder,
  minLines = 6,
}: {
  initialValue: string;
  onChange: (value: string) => void;
  label: string;
  error?: EditorError | null;
  placeholder?: string;
  minLines?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latestOnChange = useRef(onChange);
  latestOnChange.current = onChange;

  // biome-ignore lint/correctness/useExhaustiveDependencies: created once; the editor owns its document (see above).
  useEffect(() => {
    // CodeMirror injects its styles at run time. In a shadow root it uses a constructed stylesheet, which the
    // console's Content-Security-Policy (no inline styles) allows; in the document it would add a <style> tag.
    const shadow = host.current!.shadowRoot ?? host.current!.attachShadow({ mode: "open" });
    const parent = document.createElement("div");
    shadow.replaceChildren(parent);
    const editor = new EditorView({
      root: shadow,
      parent,
      state: EditorState.create({
        doc: initialValue,
        extensions: [
          lineNumbers(),
          history(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          handlebars,
          syntaxHighlighting(highlight),
          theme,
          EditorView.lineWrapping,
          errorField,
          placeholderExt(placeholder ?? ""),
          EditorView.contentAttributes.of({ "aria-label": label, "aria-multiline": "true" }),
          EditorView.theme({ ".cm-content, .cm-gutter": { minHeight: `${minLines * 1.5}em` } }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) latestOnChange.current(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // Created once: the editor owns its document (see above).
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new error object comes with every render; its place is what matters.
  useEffect(() => {
    view.current?.dispatch({ effects: setError.of(error ?? null) });
  }, [error?.line, error?.column]);

  return <div className="editor" ref={host} />;
}
