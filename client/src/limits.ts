// Limits on templates and renders, so that no template or render blocks the process that handles it. Handlebars'
// parser takes time quadratic in nesting depth (20,000 nested `{{#if}}` took 552 s) and its compiler about 30 µs per
// expression, so templates are measured by a linear scan before Handlebars sees them; loops multiply the work of
// their body by the length of a value the caller sends, so a render is metered while it runs.
// The figures, measured on the project's 2-core machine, are in `bench/limits.mjs`; the README's "Limits" lists them.
import type Handlebars from "handlebars";
import type { Template } from "./contract.js";

export const TEMPLATE_LIMITS = Object.freeze({
  /** Characters of a template; for a chat template, of all its messages together. */
  maxChars: 100_000,
  /** Blocks and sub-expressions open inside each other. */
  maxDepth: 32,
  /** Tags plus the names, literals and sub-expressions inside them, over all messages. */
  maxNodes: 600,
});

export const RENDER_LIMITS = Object.freeze({
  /** Steps of one render: every loop iteration costs `stepsPerIteration` plus the nodes in the loop's body. */
  maxSteps: 250_000,
  /** What an iteration costs by itself (a new data frame, the call), in nodes evaluated in the same time. */
  stepsPerIteration: 5,
  /** Characters rendered, over all messages. */
  maxOutputChars: 5_000_000,
});

export interface LimitExceeded {
  limit: string;
  max: number;
  found: number;
}

export interface TemplateShape {
  chars: number;
  nodes: number;
  depth: number;
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

// Characters that end a name inside a tag: white space, `}` `(` `)` `=` `|` `~` and quotes.
function endsName(c: number): boolean {
  return isSpace(c) || c === 125 || c === 40 || c === 41 || c === 61 || c === 124 || c === 126 || c === 34 || c === 39;
}

/**
 * Counts what Handlebars will parse, following its lexer: `\{{` is text, `{{!-- --}}` and `{{! }}` are one comment
 * whatever they contain, `{{else}}` and closing tags add nothing. A raw block's content is scanned like the rest, which
 * can only count too much. Linear in the length of the source.
 */
export function scanTemplate(source: string): TemplateShape {
  const n = source.length;
  let nodes = 0;
  let blocks = 0;
  let depth = 0;
  let i = 0;
  for (;;) {
    const open = source.indexOf("{{", i);
    if (open < 0) break;
    let backslashes = 0;
    while (open - backslashes - 1 >= i && source.charCodeAt(open - backslashes - 1) === 92) backslashes++;
    if (backslashes === 1) {
      // An escaped `{{` is text (two backslashes escape the backslash instead).
      i = open + 2;
      continue;
    }
    let p = open + 2;
    // `{{{{name}}}}` opens a raw block, `{{{{/name}}}}` closes it.
    const raw = source.startsWith("{{", p);
    if (raw) p += 2;
    if (source.charCodeAt(p) === 126) p++; // `~`
    const sigil = raw && source[p] !== "/" ? "#" : source[p];
    if (sigil === "!") {
      // The long form ends at the first `--}}`, and its own `--` may be the closing one (`{{!--}}`).
      const end = source.startsWith("--", p + 1) ? source.slice(p + 1).search(/--~?\}\}/) : -1;
      const close = end >= 0 ? source.indexOf("}}", p + 1 + end) : source.indexOf("}}", p + 1);
      nodes++;
      if (close < 0) break;
      i = close + 2;
      continue;
    }
    if (sigil === "/") {
      blocks = Math.max(0, blocks - 1);
      const close = source.indexOf("}}", p);
      if (close < 0) break;
      i = close + 2;
      continue;
    }
    let q = p;
    while (q < n && isSpace(source.charCodeAt(q))) q++;
    if (source.startsWith("else", q) && (q + 4 >= n || endsName(source.charCodeAt(q + 4)))) {
      q += 4;
      while (q < n && isSpace(source.charCodeAt(q))) q++;
      // A plain `{{else}}` is no node; `{{else if x}}` opens a chained block, counted below but not as nesting.
      if (source.startsWith("}}", q) || source.startsWith("~}}", q)) {
        i = source.indexOf("}}", q) + 2;
        continue;
      }
      p = q;
    } else if (sigil === "^" && /^\^\s*~?\}\}/.test(source.slice(p, p + 64))) {
      i = source.indexOf("}}", p) + 2; // `{{^}}` is `{{else}}`
      continue;
    } else if (sigil === "#" || sigil === "^") {
      blocks++;
      depth = Math.max(depth, blocks);
      if (!raw) p++;
    } else if (sigil === "{" || sigil === "&" || sigil === ">" || sigil === "*") {
      p++;
    }
    nodes++; // the statement
    let parens = 0;
    let j = p;
    while (j < n) {
      const c = source.charCodeAt(j);
      if (c === 125 && source.charCodeAt(j + 1) === 125) break; // `}}`
      if (isSpace(c) || c === 61 || c === 124 || c === 126 || c === 125) {
        j++;
      } else if (c === 40) {
        nodes++; // a sub-expression
        parens++;
        depth = Math.max(depth, blocks + parens);
        j++;
      } else if (c === 41) {
        parens = Math.max(0, parens - 1);
        j++;
      } else if (c === 34 || c === 39) {
        nodes++; // a string literal, `\"` escapes the quote
        j++;
        while (j < n && source.charCodeAt(j) !== c)
          j += source.charCodeAt(j) === 92 && source.charCodeAt(j + 1) === c ? 2 : 1;
        j++;
      } else {
        nodes++; // a name, path or literal; `[...]` segments may hold any character, `\]` escapes the bracket
        while (j < n && !endsName(source.charCodeAt(j))) {
          if (source.charCodeAt(j) === 91) {
            j++;
            while (j < n && source.charCodeAt(j) !== 93)
              j += source.charCodeAt(j) === 92 && source.charCodeAt(j + 1) === 93 ? 2 : 1;
          }
          j++;
        }
      }
    }
    i = j + 2;
  }
  return { chars: n, nodes, depth };
}

function sources(template: Template): string[] {
  if (typeof template === "string") return [template];
  return template.flatMap((item) => ("content" in item ? [item.content] : []));
}

/** The limits a template exceeds (empty when none), measured before Handlebars parses it. */
export function templateLimitsExceeded(template: Template): LimitExceeded[] {
  const parts = sources(template);
  const chars = parts.reduce((sum, s) => sum + s.length, 0);
  let nodes = 0;
  let depth = 0;
  for (const source of parts) {
    const shape = scanTemplate(source);
    nodes += shape.nodes;
    depth = Math.max(depth, shape.depth);
  }
  const exceeded: LimitExceeded[] = [];
  if (chars > TEMPLATE_LIMITS.maxChars)
    exceeded.push({ limit: "template size (characters)", max: TEMPLATE_LIMITS.maxChars, found: chars });
  if (depth > TEMPLATE_LIMITS.maxDepth)
    exceeded.push({ limit: "nesting depth", max: TEMPLATE_LIMITS.maxDepth, found: depth });
  if (nodes > TEMPLATE_LIMITS.maxNodes)
    exceeded.push({ limit: "template nodes", max: TEMPLATE_LIMITS.maxNodes, found: nodes });
  return exceeded;
}

export function describeExceeded(what: string, exceeded: LimitExceeded[]): string {
  return `${what} exceeds ${exceeded.length === 1 ? "a limit" : "limits"}: ${exceeded.map((e) => `${e.limit} ${e.found} (limit ${e.max})`).join("; ")}`;
}

type HandlebarsEnvironment = typeof Handlebars;
type Compiled = HandlebarsTemplateDelegate;
type Loc = { start: { line: number; column: number }; end: { line: number; column: number } };

export interface RenderGuard {
  /** Starts the budget of one render: every template called until the next `begin` shares it. */
  begin(): void;
  /** The compiled template of `source`, its loops and output charged to the render in progress. */
  wrap(template: Compiled, source: string): Compiled;
}

/**
 * Meters renders in `handlebars` (an environment of its own, from `Handlebars.create()`): its `each`, which also runs
 * mustache sections over arrays, charges every iteration the number of nodes in the loop's body, and rendered text is
 * counted. Past a limit, the render throws what `exceeded` makes. Also silences `{{log}}`, which would otherwise write
 * to the console of whichever process renders, as often as a loop asks.
 */
export function createRenderGuard(
  handlebars: HandlebarsEnvironment,
  exceeded: (message: string, limit: LimitExceeded) => Error,
): RenderGuard {
  let steps = 0;
  let output = 0;
  let loops = 0;
  let current: { source: string; lineStarts?: number[]; weights: Map<number, number> } | undefined;

  function tooLong(found: number): Error {
    return exceeded(`the rendered text would exceed ${RENDER_LIMITS.maxOutputChars} characters`, {
      limit: "rendered characters",
      max: RENDER_LIMITS.maxOutputChars,
      found,
    });
  }

  // The nodes between a block's opening and closing tags (Handlebars gives helpers the block's location), or of the
  // whole template when there is no location.
  function weightOf(loc: Loc | undefined): number {
    if (!current) return 1;
    // A number, not a string: this runs at every loop of every render.
    const key = loc ? loc.start.line * 1_048_576 + loc.start.column : -1;
    let weight = current.weights.get(key);
    if (weight === undefined) {
      let body = current.source;
      if (loc) {
        const starts = (current.lineStarts ??= lineStarts(current.source));
        body = body.slice(
          (starts[loc.start.line - 1] ?? 0) + loc.start.column,
          (starts[loc.end.line - 1] ?? 0) + loc.end.column,
        );
      }
      weight = Math.max(1, scanTemplate(body).nodes);
      current.weights.set(key, weight);
    }
    return weight;
  }

  const each = handlebars.helpers.each!;
  handlebars.registerHelper(
    "each",
    function (this: unknown, context: unknown, options: Handlebars.HelperOptions & { loc?: Loc }) {
      const weight = weightOf(options.loc);
      const fn = options.fn;
      const outermost = loops === 0;
      loops++;
      // `options` is a new object for every call of the helper: replacing its `fn` touches nothing else.
      options.fn = (value: unknown, frame?: Handlebars.RuntimeOptions) => {
        steps += weight + RENDER_LIMITS.stepsPerIteration;
        if (steps > RENDER_LIMITS.maxSteps) {
          throw exceeded(
            `rendering needs more than ${RENDER_LIMITS.maxSteps} steps (loop iterations × (${RENDER_LIMITS.stepsPerIteration} + nodes in the loop's body))`,
            {
              limit: "render steps",
              max: RENDER_LIMITS.maxSteps,
              found: steps,
            },
          );
        }
        const text: string = fn(value, frame);
        // Inner loops' text is part of the outer iteration's: counted once, there.
        if (outermost && (output += text.length) > RENDER_LIMITS.maxOutputChars) throw tooLong(output);
        return text;
      };
      try {
        return each.call(this, context, options);
      } finally {
        loops--;
      }
    },
  );
  handlebars.log = () => {};

  return {
    begin() {
      steps = 0;
      output = 0;
    },
    wrap(template, source) {
      const weights = new Map<number, number>();
      return (values, options) => {
        const outer = current;
        const before = output;
        current = { source, weights };
        try {
          const text = template(values, options);
          // What the loops produced is already in `output`; add the rest of this template's text.
          output = before + text.length;
          if (output > RENDER_LIMITS.maxOutputChars) throw tooLong(output);
          return text;
        } catch (err) {
          // Concatenating past the longest string the engine allows (2^29 characters in V8, about): at least that much.
          if (err instanceof RangeError && /string length/i.test(err.message)) throw tooLong(2 ** 29);
          throw err;
        } finally {
          current = outer;
        }
      };
    },
  };
}

// Where each line starts, with the line breaks Handlebars' lexer counts: \r\n, \r and \n.
function lineStarts(source: string): number[] {
  const starts = [0];
  for (const m of source.matchAll(/\r\n?|\n/g)) starts.push(m.index + m[0].length);
  return starts;
}
