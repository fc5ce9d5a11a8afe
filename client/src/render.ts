// Template analysis and rendering, shared by the server and the client library so that a version renders the same
// on both sides. Nothing here keeps module-level mutable state: caches belong to the renderer that created them.
import { Ajv, type SchemaObject, type ValidateFunction } from "ajv";
import Handlebars from "handlebars";
import { LRUCache } from "lru-cache";
import {
  VariableTypeSchema,
  type ChatMessage,
  type Template,
  type TemplateErrorDetails,
  type VariableSpec,
  type VariableType,
} from "./contract.js";
import { createRenderGuard, describeExceeded, templateLimitsExceeded, type LimitExceeded } from "./limits.js";
import { safeRegExp } from "./safe-regexp.js";
import { boundValidate, checkSchemaLimits } from "./schema-limits.js";

export class TemplateError extends Error {
  override readonly name = "TemplateError";
  readonly code = "invalid_template";
  details?: unknown;
  constructor(message: string, details?: unknown) {
    super(message);
    this.details = details;
  }
}

export type RenderErrorCode = "missing_variables" | "unexpected_variables" | "invalid_variables" | "limit_exceeded";
export interface RenderErrorDetails {
  missing?: string[];
  unexpected?: string[];
  errors?: { path: string; message: string }[];
  limit?: LimitExceeded;
}

export class RenderError extends Error {
  override readonly name = "RenderError";
  constructor(
    readonly code: RenderErrorCode,
    message: string,
    readonly details: RenderErrorDetails,
  ) {
    super(message);
  }
}

export interface RenderableVersion {
  contentHash: string;
  template: Template;
  /**
   * The contract as stored. Rendering derives the one it enforces from the template and schema: the same for
   * versions published by this release.
   */
  variables: VariableSpec[];
  variablesSchema?: Record<string, unknown> | null;
}
export interface RenderOptions {
  strictExtras?: boolean;
}
export type RenderResult = { text: string } | { messages: ChatMessage[] };
export interface Renderer {
  render(version: RenderableVersion, values: Record<string, unknown>, options?: RenderOptions): RenderResult;
}
export interface RendererOptions {
  /** compiled templates kept, LRU; default 1000 */
  cacheSize?: number;
}

// Prompts are not HTML, and `strict: true` would throw on the first absent optional value instead of rendering it
// empty; missing required values are reported up front, all at once, by `render`. `log` is not a helper here (see
// HELPERS), and Handlebars would otherwise compile `{{log}}` as a call to it.
const COMPILE_OPTIONS: CompileOptions = Object.freeze({
  noEscape: true,
  strict: false,
  knownHelpers: Object.freeze({ log: false }),
});
// Handlebars' defaults, spelled out: being explicit also stops it from logging a warning for every denied property.
const RUNTIME_OPTIONS: Handlebars.RuntimeOptions = Object.freeze({
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
});
// Schema patterns run on a linear-time engine: see safe-regexp.ts.
const AJV_OPTIONS = { allErrors: true, strict: false, code: { regExp: safeRegExp } } as const;

// Block helpers throw when called inline (`{{if x}}`, `(each x)`): Handlebars gives them no block to render.
const BLOCK_HELPERS = new Set(["if", "unless", "each", "with"]);
// The helpers of the rendering environment. `log` is not one: it wrote to the console of whoever renders, and
// `{{log}}` reads a variable like any other name.
const HELPERS = new Set([...BLOCK_HELPERS, "lookup"]);
// Registered by Handlebars itself, so a bare `{{helperMissing}}` calls it.
const INTERNAL_HELPERS = new Set(["helperMissing", "blockHelperMissing"]);
// Handlebars' own test for a scoped path (`this.x`, `./x`, `../x`): never a helper, never a block param.
const SCOPED = /^\.|this\b/;
// The characters Handlebars takes in a bare path segment; any other segment is printed in brackets.
const BARE_SEGMENT = /^[^\s!"#%-,./;->@[-^`{-~]+$/;

// ---- analysis ----

/** A place in the variables: `["user", "name"]` is `user.name`, `[]` the variables object itself. */
type Path = string[];

interface Usage {
  /** Every root variable read; `required` when some use needs it given. */
  roots: Map<string, { required: boolean }>;
  /** Paths below a root that must be present whenever their parent is given, by their printed form. */
  paths: Map<string, Path>;
  placeholders: Set<string>;
}

/**
 * `value`: the output needs it. `condition`: only whether it is there is asked (`#if x`, or what `#with x` and
 * `#each x` enter), and its absence takes a branch the author wrote.
 */
type Role = "value" | "condition";

interface Scope {
  usage: Usage;
  /** The contexts blocks entered, innermost last: the path each one is, or null when it is no fixed path. */
  contexts: (Path | null)[];
  /** Block params in scope (`as |item|`): the path each one is, or null. */
  params: Map<string, Path | null>;
  /** Paths that enclosing blocks render only with present: `#if x`, `#with x`, `#each x`, the else of `#unless x`. */
  guards: Path[];
  /** Refuse what renders ambiguously. Rendering does not, so that versions published before stay renderable. */
  publishing: boolean;
}

type Call = hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;

/** `user.name`, or `user.[first name]` where a segment needs brackets to read as one. */
function formatPath(path: Path): string {
  return path.map((segment) => (BARE_SEGMENT.test(segment) ? segment : `[${segment}]`)).join(".");
}

function commonPrefix(a: Path, b: Path): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function use(scope: Scope, path: Path | null, role: Role): void {
  if (!path || path.length === 0) return;
  const { usage } = scope;
  let root = usage.roots.get(path[0]);
  if (!root) usage.roots.set(path[0], (root = { required: false }));
  if (role === "condition") return;
  // A guard on `a.b` proves `a` and `a.b` present where it holds; every segment past what is proven is needed.
  let proven = 0;
  for (const guard of scope.guards) proven = Math.max(proven, commonPrefix(path, guard));
  if (proven === 0) root.required = true;
  for (let end = Math.max(proven, 1) + 1; end <= path.length; end++) {
    const needed = path.slice(0, end);
    usage.paths.set(formatPath(needed), needed);
  }
}

/**
 * How every template error says where it is: "line 2, column 4", 1-based both, in the message (what the API answers
 * and the console shows) and as `details` (what an editor marks). Handlebars' own " - 2:3" (a 0-based column) and
 * "Parse error on line 2:" are rewritten to it, so that no two places count columns differently.
 */
function describeLocation(line: number, column?: number): string {
  return column === undefined ? `line ${line}` : `line ${line}, column ${column}`;
}

/** A TemplateError at a 1-based place; the message ends with where it is ("… at line 2, column 4"). */
function located(message: string, line: number, column: number): TemplateError {
  const details: TemplateErrorDetails = { line, column };
  return new TemplateError(`${message} at ${describeLocation(line, column)}`, details);
}

function fail(message: string, node: hbs.AST.Node): never {
  if (!node.loc) throw new TemplateError(message);
  // Handlebars' positions have 0-based columns.
  throw located(message, node.loc.start.line, node.loc.start.column + 1);
}

// Handlebars' Exception: a message ending in " - line:column" (0-based column), with both as properties.
const HANDLEBARS_SUFFIX = / - \d+:\d+$/;
const PARSE_ERROR = /^Parse error on line (\d+):/;

/** Handlebars' parse error as a TemplateError saying where it is in the same words as every other one. */
function parseError(err: unknown): TemplateError {
  const message = err instanceof Error ? err.message : String(err);
  const exception: { lineNumber?: unknown; column?: unknown } = typeof err === "object" && err !== null ? err : {};
  if (typeof exception.lineNumber === "number" && typeof exception.column === "number")
    return located(message.replace(HANDLEBARS_SUFFIX, ""), exception.lineNumber, exception.column + 1);
  const parse = PARSE_ERROR.exec(message);
  if (!parse) return new TemplateError(message);
  const line = Number(parse[1]);
  // The message only has the line; the parser's lexer still holds the failing token's place (read right after the
  // throw, before anything parses again).
  const loc = (
    Handlebars as unknown as { Parser?: { lexer?: { yylloc?: { first_line: number; first_column: number } } } }
  ).Parser?.lexer?.yylloc;
  const column = loc?.first_line === line ? loc.first_column + 1 : undefined;
  const details: TemplateErrorDetails = column === undefined ? { line } : { line, column };
  return new TemplateError(message.replace(PARSE_ERROR, `Parse error at ${describeLocation(line, column)}:`), details);
}

function walkProgram(program: hbs.AST.Program | undefined, scope: Scope): void {
  for (const node of program?.body ?? []) {
    switch (node.type) {
      case "MustacheStatement":
      case "BlockStatement":
        statement(node as hbs.AST.MustacheStatement | hbs.AST.BlockStatement, scope);
        break;
      case "PartialStatement":
      case "PartialBlockStatement":
        fail("partials are not supported", node);
        break;
      case "Decorator":
      case "DecoratorBlock":
        fail("decorators are not supported", node);
        break;
    }
  }
}

// Handlebars turns a literal in head position (`{{"a b"}}`, `{{1}}`) into a lookup of that key, so it is a variable.
function headPath(node: Call): hbs.AST.PathExpression {
  const head = node.path as hbs.AST.PathExpression | hbs.AST.Literal;
  if (head.type === "PathExpression") return head as hbs.AST.PathExpression;
  const name = String((head as { original?: unknown }).original);
  return { type: "PathExpression", data: false, depth: 0, parts: [name], original: name, loc: head.loc };
}

function resolvePath(node: hbs.AST.PathExpression, scope: Scope): Path | null {
  // `@root.x` is the root's x; `@index`, `@key` and other data variables are not values the caller gives.
  if (node.data) return node.parts[0] === "root" ? node.parts.slice(1) : null;
  if (!SCOPED.test(node.original) && node.parts.length > 0 && scope.params.has(node.parts[0])) {
    const param = scope.params.get(node.parts[0])!;
    return param && [...param, ...node.parts.slice(1)];
  }
  // Past the outermost context (more `../` than blocks that entered one) Handlebars finds nothing.
  const context = scope.contexts[scope.contexts.length - 1 - node.depth];
  return context ? [...context, ...node.parts] : null;
}

/** Records the uses in an expression; returns the path its value is, when it is a fixed path. */
function expression(node: hbs.AST.Expression, scope: Scope, role: Role): Path | null {
  if (node.type === "SubExpression") {
    const call = node as hbs.AST.SubExpression;
    helperName(call, headPath(call), scope);
    return lookup(call, scope, role);
  }
  if (node.type !== "PathExpression") return null;
  const path = resolvePath(node as hbs.AST.PathExpression, scope);
  use(scope, path, role);
  return path;
}

/** The helper a call invokes, checked to work at render time; undefined when it reads a variable or is a section. */
function helperName(node: Call, head: hbs.AST.PathExpression, scope: Scope): string | undefined {
  // Mirrors Handlebars' own test: a sub-expression, or anything with params or a hash, invokes a helper.
  const isCall = node.type === "SubExpression" || node.params.length > 0 || node.hash !== undefined;
  const simple = head.parts.length === 1 && head.depth === 0 && !head.data && !SCOPED.test(head.original);
  const name = simple ? head.parts[0] : undefined;
  if (!isCall) {
    if (name === undefined || scope.params.has(name) || !(HELPERS.has(name) || INTERNAL_HELPERS.has(name)))
      return undefined;
    if (node.type === "MustacheStatement") {
      fail(
        `{{${name}}} calls the built-in helper "${name}", so it cannot read a variable of that name: ` +
          `write {{this.${name}}} or rename the variable`,
        node,
      );
    }
  }
  if (name === undefined || !HELPERS.has(name))
    fail(`unknown helper "${head.original}" (available: ${[...HELPERS].join(", ")})`, node);
  if (BLOCK_HELPERS.has(name) && node.type !== "BlockStatement")
    fail(`${name} only works as a block: {{#${name} …}}…{{/${name}}}`, node);
  const arity = name === "lookup" ? 2 : 1;
  if (node.params.length !== arity) fail(`${name} takes exactly ${arity} argument${arity === 1 ? "" : "s"}`, node);
  return name;
}

/** `lookup`, the one helper with a value: a literal key extends the path (`lookup user "plan"` is `user.plan`). */
function lookup(node: Call, scope: Scope, role: Role): Path | null {
  for (const pair of node.hash?.pairs ?? []) expression(pair.value, scope, "value");
  const [target, key] = node.params;
  const base =
    target.type === "PathExpression"
      ? resolvePath(target as hbs.AST.PathExpression, scope)
      : expression(target, scope, role);
  if (base && (key.type === "StringLiteral" || key.type === "NumberLiteral")) {
    const path = [...base, String((key as hbs.AST.StringLiteral | hbs.AST.NumberLiteral).value)];
    use(scope, path, role);
    return path;
  }
  if (target.type === "PathExpression") use(scope, base, role);
  // The key picks what is read: without it the lookup means nothing, even as a condition.
  expression(key, scope, "value");
  return null;
}

function guarded(scope: Scope, guard: Path | null): Scope {
  return guard && guard.length > 0 ? { ...scope, guards: [...scope.guards, guard] } : scope;
}

/**
 * The scope of a block's body that renders in `context` (`same`: the context it is already in) with the block params
 * given, only when `guard` is present.
 */
function entered(
  scope: Scope,
  program: hbs.AST.Program | undefined,
  context: Path | null,
  same: boolean,
  guard: Path | null,
  params: (Path | null)[],
): Scope {
  // An inverted block (`{{^with x}}`) has no body of its own.
  const names = program?.blockParams ?? [];
  return {
    ...guarded(scope, guard),
    // Handlebars adds no context level for a block that enters the context it is already in (`#with this`).
    contexts: same ? scope.contexts : [...scope.contexts, context],
    params:
      names.length > 0
        ? new Map([...scope.params, ...names.map((name, i) => [name, params[i] ?? null] as const)])
        : scope.params,
  };
}

function statement(node: hbs.AST.MustacheStatement | hbs.AST.BlockStatement, scope: Scope): void {
  const head = headPath(node);
  const name = helperName(node, head, scope);
  if (node.type === "MustacheStatement") {
    if (name === undefined) expression(head, scope, "value");
    else lookup(node, scope, "value");
    return;
  }
  const block = node as hbs.AST.BlockStatement;
  if (name === "lookup") {
    lookup(block, scope, "value");
    walkProgram(block.program, scope);
    walkProgram(block.inverse, scope);
    return;
  }
  for (const pair of block.hash?.pairs ?? []) expression(pair.value, scope, "value");
  // `{{else}}` always renders in the block's outer context.
  if (name === "if" || name === "unless") {
    const path = expression(block.params[0], scope, "condition");
    walkProgram(block.program, name === "if" ? guarded(scope, path) : scope);
    walkProgram(block.inverse, name === "if" ? scope : guarded(scope, path));
  } else if (name === "with") {
    const param = block.params[0] as hbs.AST.PathExpression;
    const path = expression(param, scope, "condition");
    const current = scope.contexts[scope.contexts.length - 1];
    const here = param.type === "PathExpression" && !param.data && param.parts.length === 0 && param.depth === 0;
    const same =
      here ||
      (path !== null &&
        current !== null &&
        path.length === current.length &&
        commonPrefix(path, current) === path.length);
    walkProgram(block.program, entered(scope, block.program, path, same, path, [path]));
    walkProgram(block.inverse, scope);
  } else if (name === "each") {
    const path = expression(block.params[0], scope, "condition");
    walkProgram(block.program, entered(scope, block.program, null, false, path, []));
    walkProgram(block.inverse, scope);
  } else {
    // A Mustache-style section. `{{^x}}…{{/x}}` renders only when x is absent, false or empty, in the outer context.
    const path = expression(head, scope, "condition");
    if (block.program) {
      // `{{#x}}…{{/x}}` renders its body in the outer context when x is `true`, in x when x is an object, once per
      // item when x is a list: which variables it reads cannot be told from the template.
      if (scope.publishing) {
        const x = head.original;
        fail(
          `{{#${x}}}…{{/${x}}} is a Mustache-style section, which reads the outer variables or those inside ${x} depending on its value: ` +
            `write {{#if ${x}}}…{{/if}} to test it, {{#with ${x}}}…{{/with}} to enter an object or {{#each ${x}}}…{{/each}} to loop over a list`,
          node,
        );
      }
      walkProgram(block.program, entered(scope, block.program, null, false, path, []));
    }
    walkProgram(block.inverse, scope);
  }
}

function analyzeSource(source: string, usage: Usage, publishing: boolean, messageIndex?: number): void {
  try {
    let ast: hbs.AST.Program;
    try {
      ast = Handlebars.parse(source);
    } catch (err) {
      throw parseError(err);
    }
    walkProgram(ast, { usage, contexts: [[]], params: new Map(), guards: [], publishing });
  } catch (err) {
    if (err instanceof TemplateError && messageIndex !== undefined) {
      err.message = `messages[${messageIndex}]: ${err.message}`;
      const details = err.details as TemplateErrorDetails | undefined;
      if (details?.line !== undefined) err.details = { ...details, messageIndex };
    }
    throw err;
  }
}

function analyze(template: Template, publishing: boolean): Usage {
  const exceeded = templateLimitsExceeded(template);
  if (exceeded.length > 0) throw new TemplateError(describeExceeded("template", exceeded), { limits: exceeded });
  const usage: Usage = { roots: new Map(), paths: new Map(), placeholders: new Set() };
  if (typeof template === "string") {
    analyzeSource(template, usage, publishing);
  } else {
    template.forEach((item, index) => {
      if ("type" in item) {
        usage.placeholders.add(item.name);
        usage.roots.set(item.name, { required: true });
      } else {
        analyzeSource(item.content, usage, publishing, index);
      }
    });
  }
  return usage;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function contract(usage: Usage, variablesSchema: Record<string, unknown> | null | undefined): VariableSpec[] {
  const properties = isRecord(variablesSchema?.properties) ? variablesSchema.properties : {};
  const required = new Set(
    Array.isArray(variablesSchema?.required)
      ? variablesSchema.required.filter((name): name is string => typeof name === "string")
      : [],
  );
  const paths = new Map<string, string[]>();
  for (const [printed, path] of usage.paths) {
    const list = paths.get(path[0]);
    if (list) list.push(printed);
    else paths.set(path[0], [printed]);
  }
  const names = new Set([...usage.roots.keys(), ...Object.keys(properties), ...required]);
  // Plain code-unit order, not localeCompare: the server and a client must agree whatever their locale.
  return [...names].sort().map((name) => {
    // Only a placeholder proves a type: `{{x.length}}` reads strings and lists alike, `#each` walks objects too.
    let type: VariableType | null = usage.placeholders.has(name) ? "messages" : null;
    let isRequired = usage.roots.get(name)?.required ?? false;
    const declared = Object.hasOwn(properties, name) ? properties[name] : undefined;
    if (isRecord(declared)) {
      const schemaType = VariableTypeSchema.safeParse(Array.isArray(declared.type) ? declared.type[0] : declared.type);
      // A placeholder's schema can only say "array"; "messages" says more.
      if (schemaType.success && type !== "messages") type = schemaType.data;
    }
    if (required.has(name)) isRequired = true;
    else if (Object.hasOwn(properties, name)) isRequired = false;
    const below = paths.get(name)?.sort();
    return below ? { name, required: isRequired, type, paths: below } : { name, required: isRequired, type };
  });
}

export interface AnalyzeOptions {
  /**
   * Also refuse what renders ambiguously (Mustache-style `{{#x}}` sections), as publishing does. Without it, as when
   * rendering, such a section's body derives nothing, so that versions published before stay renderable.
   */
  publishing?: boolean;
}

/**
 * The variable contract of a template: every root variable it reads, required unless each use is guarded by the
 * template itself (an `#if`, `#with`, `#each` or `^` section on it), the paths below each one that must be present
 * whenever it is given, and the types only the variables schema or a placeholder can tell.
 */
export function analyzeTemplate(
  template: Template,
  variablesSchema?: Record<string, unknown> | null,
  options: AnalyzeOptions = {},
): VariableSpec[] {
  return contract(analyze(template, options.publishing ?? false), variablesSchema);
}

// ---- variables schema ----

function compileSchema(ajv: Ajv, schema: Record<string, unknown>): ValidateFunction {
  if (schema.type !== undefined && schema.type !== "object") {
    throw new TemplateError(
      `variablesSchema must be an object schema (type "object"), got type ${JSON.stringify(schema.type)}`,
    );
  }
  const limits = checkSchemaLimits(schema);
  if (limits.problem !== undefined)
    throw new TemplateError(limits.problem, limits.exceeded && { limits: limits.exceeded });
  try {
    return boundValidate(ajv.compile(schema as SchemaObject), limits.cost, limitError);
  } catch (err) {
    throw new TemplateError(`invalid variablesSchema: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    // The compiled function is all we keep; left in Ajv's own cache, every schema ever seen would stay in memory and
    // a second schema reusing an `$id` would be refused.
    ajv.removeSchema(schema as SchemaObject);
  }
}

export function checkVariablesSchema(schema: Record<string, unknown>): void {
  compileSchema(new Ajv(AJV_OPTIONS), schema);
}

/** Ajv as rendering configures it, for comparing two schemas: which keywords it validates, and what a schema accepts. */
export interface SchemaProbe {
  isKeyword(name: string): boolean;
  /** Whether `schema`, on its own, accepts `value`; undefined when it cannot be compiled on its own (a `$ref` out). */
  accepts(schema: unknown, value: unknown): boolean | undefined;
}

export function createSchemaProbe(): SchemaProbe {
  const ajv = new Ajv(AJV_OPTIONS);
  const compiled = new WeakMap<object, ValidateFunction | null>();
  return {
    isKeyword: (name) => ajv.getKeyword(name) !== false,
    accepts(schema, value) {
      if (typeof schema === "boolean") return schema;
      if (!isRecord(schema)) return undefined;
      let validate = compiled.get(schema);
      if (validate === undefined) {
        try {
          validate = ajv.compile(schema as SchemaObject);
        } catch {
          validate = null;
        } finally {
          ajv.removeSchema(schema as SchemaObject);
        }
        compiled.set(schema, validate);
      }
      return validate ? validate(value) : undefined;
    },
  };
}

// ---- rendering ----

interface Prepared {
  /** Index-aligned with a chat template's items (placeholders have none); one entry for a text template. */
  templates: (HandlebarsTemplateDelegate | undefined)[];
  /** Root variables that must be given. */
  required: string[];
  /** Paths below a root that must be present whenever their parent is given and not null, e.g. ["user", "name"]. */
  paths: { parts: string[]; printed: string }[];
  placeholders: string[];
  /** Every variable of the contract, for `strictExtras`. */
  known: Set<string>;
  validate?: ValidateFunction;
}

/** Present the way Handlebars sees it: own property, not undefined. Null is a value: it renders as empty text. */
function has(parent: unknown, key: string): boolean {
  return (
    parent !== null &&
    parent !== undefined &&
    Object.hasOwn(Object(parent), key) &&
    (parent as Record<string, unknown>)[key] !== undefined
  );
}

function isMessage(value: unknown): value is ChatMessage {
  return isRecord(value) && typeof value.role === "string" && typeof value.content === "string";
}

export function createRenderer(options: RendererOptions = {}): Renderer {
  const cacheSize = options.cacheSize ?? 1000;
  if (!(Number.isSafeInteger(cacheSize) && cacheSize >= 1))
    throw new RangeError(`cacheSize must be an integer >= 1, got ${cacheSize}`);
  const handlebars = Handlebars.create();
  // `log` writes to the console of whoever renders; `{{log}}` is a variable here. A new object rather than
  // `unregisterHelper`: a deleted key leaves it in slow dictionary mode, and Handlebars copies it on every render.
  const { log: _log, ...helpers } = handlebars.helpers;
  (handlebars as { helpers: typeof helpers }).helpers = helpers;
  const guard = createRenderGuard(handlebars, limitError);
  const cache = new LRUCache<string, Prepared>({ max: cacheSize });
  let ajv: Ajv | undefined;

  function prepare(version: RenderableVersion): Prepared {
    // The contract is derived here, as at publish, from the content the hash covers: what a version accepts is
    // decided by today's rules, the same ones the versioning compares versions by.
    const usage = analyze(version.template, false);
    const variables = contract(usage, version.variablesSchema);
    const sources =
      typeof version.template === "string"
        ? [version.template]
        : version.template.map((item) => ("type" in item ? undefined : item.content));
    return {
      // Handlebars compiles on the first call of each function, so a message is only compiled once it is rendered.
      templates: sources.map((source) =>
        source === undefined ? undefined : guard.wrap(handlebars.compile(source, COMPILE_OPTIONS), source),
      ),
      required: variables.filter((v) => v.required).map((v) => v.name),
      paths: [...usage.paths].map(([printed, parts]) => ({ parts, printed })),
      placeholders: [...usage.placeholders],
      known: new Set(variables.map((v) => v.name)),
      validate: version.variablesSchema
        ? compileSchema((ajv ??= new Ajv(AJV_OPTIONS)), version.variablesSchema)
        : undefined,
    };
  }

  function load(version: RenderableVersion): Prepared {
    const key = version.contentHash;
    let prepared = cache.get(key);
    if (prepared === undefined) cache.set(key, (prepared = prepare(version)));
    return prepared;
  }

  function render(
    version: RenderableVersion,
    values: Record<string, unknown>,
    renderOptions: RenderOptions = {},
  ): RenderResult {
    const prepared = load(version);

    // Nothing is allocated unless something is missing: this runs on every render.
    let missing: Set<string> | undefined;
    for (const name of prepared.required) if (!has(values, name)) (missing ??= new Set()).add(name);
    for (const { parts, printed } of prepared.paths) {
      // Checked only where the parent is there: an absent parent is reported by its own entry, or is allowed.
      let parent: unknown = values;
      let i = 0;
      for (; i < parts.length - 1; i++) {
        if (!has(parent, parts[i])) break;
        parent = (parent as Record<string, unknown>)[parts[i]];
        // Null renders as empty text, and so does everything below it.
        if (parent === null) break;
      }
      if (i === parts.length - 1 && !has(parent, parts[i])) (missing ??= new Set()).add(printed);
    }
    if (missing) {
      const names = [...missing].sort();
      throw new RenderError("missing_variables", `missing variables: ${names.join(", ")}`, { missing: names });
    }

    const errors: { path: string; message: string }[] = [];
    for (const name of prepared.placeholders) {
      if (!has(values, name)) continue;
      const given = values[name];
      if (!Array.isArray(given)) errors.push({ path: `/${name}`, message: "must be an array of messages" });
      else {
        given.forEach((message, index) => {
          if (!isMessage(message))
            errors.push({ path: `/${name}/${index}`, message: "must be a message with string role and content" });
        });
      }
    }
    if (errors.length > 0) throw invalid(errors);

    if (renderOptions.strictExtras) {
      const unexpected = Object.keys(values)
        .filter((key) => values[key] !== undefined && !prepared.known.has(key))
        .sort();
      if (unexpected.length > 0) {
        throw new RenderError("unexpected_variables", `unexpected variables: ${unexpected.join(", ")}`, { unexpected });
      }
    }

    if (prepared.validate && !prepared.validate(values)) {
      throw invalid(
        (prepared.validate.errors ?? []).map((e) => ({
          path: e.instancePath || "/",
          message: e.message ?? "is invalid",
        })),
      );
    }

    guard.begin();
    if (typeof version.template === "string") return { text: prepared.templates[0]!(values, RUNTIME_OPTIONS) };
    const messages: ChatMessage[] = [];
    version.template.forEach((item, index) => {
      if ("type" in item) {
        // History is data, never a template: rendering it would let a user message run template code.
        const given = values[item.name];
        if (Array.isArray(given)) for (const message of given as ChatMessage[]) messages.push({ ...message });
      } else {
        messages.push({ role: item.role, content: prepared.templates[index]!(values, RUNTIME_OPTIONS) });
      }
    });
    return { messages };
  }

  return { render };
}

function limitError(message: string, limit: LimitExceeded): RenderError {
  return new RenderError("limit_exceeded", message, { limit });
}

function invalid(errors: { path: string; message: string }[]): RenderError {
  const summary = errors.map((e) => `${e.path} ${e.message}`).join("; ");
  return new RenderError("invalid_variables", `invalid variables: ${summary}`, { errors });
}
