// Template analysis and rendering, shared by the server and the client library so that a version renders the same
// on both sides. Nothing here keeps module-level mutable state: caches belong to the renderer that created them.
import { Ajv, type SchemaObject, type ValidateFunction } from "ajv";
import Handlebars from "handlebars";
import { VariableTypeSchema, type ChatMessage, type Template, type VariableSpec, type VariableType } from "./contract.js";
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
// empty; missing required values are reported up front, all at once, by `render`.
const COMPILE_OPTIONS: CompileOptions = Object.freeze({ noEscape: true, strict: false });
// Handlebars' defaults, spelled out: being explicit also stops it from logging a warning for every denied property.
const RUNTIME_OPTIONS: Handlebars.RuntimeOptions = Object.freeze({
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
});
// Schema patterns run on a linear-time engine: see safe-regexp.ts.
const AJV_OPTIONS = { allErrors: true, strict: false, code: { regExp: safeRegExp } } as const;

// The helpers a fresh Handlebars environment has, with the number of arguments each must get: any other count
// throws at render time, so it is refused when the template is published. -1: any number.
const HELPER_ARITY = new Map([
  ["if", 1],
  ["unless", 1],
  ["each", 1],
  ["with", 1],
  ["lookup", 2],
  ["log", -1],
]);
// Registered too, so a bare `{{helperMissing}}` is a helper call (that crashes), never a variable.
const INTERNAL_HELPERS = new Set(["helperMissing", "blockHelperMissing"]);

// ---- analysis ----

interface Usage {
  /** Root names. `needed`: used somewhere other than as an if/unless condition. */
  roots: Map<string, { needed: boolean; type: VariableType | null }>;
  /** Paths below a root in the root context (`user.name`), keyed by the dotted path. */
  paths: Map<string, { parts: string[]; needed: boolean }>;
  placeholders: Set<string>;
}

// When one variable is used in several ways, the most specific type wins.
const TYPE_RANK: Partial<Record<VariableType, number>> = { object: 1, array: 2, messages: 3 };

function record(usage: Usage, parts: string[], condition: boolean, type: VariableType | null): void {
  const root = usage.roots.get(parts[0]) ?? { needed: false, type: null };
  root.needed ||= !condition;
  const inferred = parts.length > 1 ? "object" : type;
  if (inferred && (TYPE_RANK[inferred] ?? 0) > (root.type ? (TYPE_RANK[root.type] ?? 0) : 0)) root.type = inferred;
  usage.roots.set(parts[0], root);
  if (parts.length > 1) {
    const key = parts.join(".");
    const path = usage.paths.get(key) ?? { parts, needed: false };
    path.needed ||= !condition;
    usage.paths.set(key, path);
  }
}

interface Walk {
  usage: Usage;
  /** Number of enclosing blocks that changed the context: a path reaches the root when its `../` count equals it. */
  depth: number;
}

type Call = hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;

function fail(message: string, node: hbs.AST.Node): never {
  // Same location suffix as Handlebars' own errors.
  throw new TemplateError(node.loc ? `${message} - ${node.loc.start.line}:${node.loc.start.column}` : message);
}

function walkProgram(program: hbs.AST.Program | undefined, walk: Walk): void {
  for (const node of program?.body ?? []) {
    switch (node.type) {
      case "MustacheStatement":
      case "BlockStatement":
        walkCall(node as Call, walk);
        break;
      case "PartialStatement":
      case "PartialBlockStatement":
        fail("partials are not supported", node);
      case "Decorator":
      case "DecoratorBlock":
        fail("decorators are not supported", node);
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

function walkCall(node: Call, walk: Walk): void {
  const path = headPath(node);
  // Mirrors Handlebars' own test: a sub-expression, or anything with params or a hash, invokes a helper.
  const isCall = node.type === "SubExpression" || node.params.length > 0 || node.hash !== undefined;
  const simple = path.parts.length === 1 && path.depth === 0 && !path.data && !/^\.|this\b/.test(path.original);
  const name = simple ? path.parts[0] : undefined;
  let changesContext: boolean;
  if (isCall || (name !== undefined && (HELPER_ARITY.has(name) || INTERNAL_HELPERS.has(name)))) {
    const arity = name === undefined ? undefined : HELPER_ARITY.get(name);
    if (arity === undefined) {
      fail(`unknown helper "${path.original}" (available: ${[...HELPER_ARITY.keys()].join(", ")})`, node);
    }
    if (arity >= 0 && node.params.length !== arity) {
      fail(`${name} takes exactly ${arity} argument${arity === 1 ? "" : "s"}`, node);
    }
    const condition = name === "if" || name === "unless";
    const type = name === "each" ? "array" : name === "with" ? "object" : null;
    for (const param of node.params) walkExpression(param, walk, condition, type);
    for (const pair of node.hash?.pairs ?? []) walkExpression(pair.value, walk, false, null);
    changesContext = name === "each" || name === "with";
  } else {
    walkExpression(path, walk, false, null);
    // A mustache section (`{{#items}}`) iterates an array or enters an object.
    changesContext = true;
  }
  if (node.type === "BlockStatement") {
    walkProgram(node.program, changesContext ? { ...walk, depth: walk.depth + 1 } : walk);
    // `{{else}}` runs in the block's outer context, whatever the helper.
    walkProgram(node.inverse, walk);
  }
}

function walkExpression(node: hbs.AST.Expression, walk: Walk, condition: boolean, type: VariableType | null): void {
  if (node.type === "SubExpression") return walkCall(node as hbs.AST.SubExpression, walk);
  if (node.type !== "PathExpression") return;
  const path = node as hbs.AST.PathExpression;
  let parts: string[];
  if (path.data) {
    // `@root.x` is the root's x; `@index`, `@key` and other data variables are not values the caller gives.
    if (path.parts[0] !== "root") return;
    parts = path.parts.slice(1);
  } else {
    // Fewer `../` than enclosing context changes: an inner context. More: past the root, Handlebars yields nothing.
    if (path.depth !== walk.depth) return;
    parts = path.parts;
  }
  if (parts.length > 0) record(walk.usage, parts, condition, type);
}

function analyzeSource(source: string, usage: Usage, where: string): void {
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(source);
  } catch (err) {
    throw new TemplateError(where + (err instanceof Error ? err.message : String(err)));
  }
  try {
    walkProgram(ast, { usage, depth: 0 });
  } catch (err) {
    if (err instanceof TemplateError) err.message = where + err.message;
    throw err;
  }
}

function analyze(template: Template): Usage {
  const exceeded = templateLimitsExceeded(template);
  if (exceeded.length > 0) throw new TemplateError(describeExceeded("template", exceeded), { limits: exceeded });
  const usage: Usage = { roots: new Map(), paths: new Map(), placeholders: new Set() };
  if (typeof template === "string") {
    analyzeSource(template, usage, "");
  } else {
    template.forEach((item, index) => {
      if ("type" in item) {
        usage.placeholders.add(item.name);
        record(usage, [item.name], false, "messages");
      } else {
        analyzeSource(item.content, usage, `messages[${index}]: `);
      }
    });
  }
  return usage;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function analyzeTemplate(template: Template, variablesSchema?: Record<string, unknown> | null): VariableSpec[] {
  const { roots } = analyze(template);
  const properties = isRecord(variablesSchema?.properties) ? variablesSchema.properties : {};
  const required = new Set(
    Array.isArray(variablesSchema?.required)
      ? variablesSchema.required.filter((name): name is string => typeof name === "string")
      : [],
  );
  const names = new Set([...roots.keys(), ...Object.keys(properties), ...required]);
  // Plain code-unit order, not localeCompare: the server and a client must agree whatever their locale.
  return [...names].sort().map((name) => {
    const used = roots.get(name);
    let type = used?.type ?? null;
    let isRequired = used?.needed ?? false;
    const declared = Object.hasOwn(properties, name) ? properties[name] : undefined;
    if (isRecord(declared)) {
      const schemaType = VariableTypeSchema.safeParse(Array.isArray(declared.type) ? declared.type[0] : declared.type);
      // A placeholder's schema can only say "array"; "messages" says more.
      if (schemaType.success && type !== "messages") type = schemaType.data;
    }
    if (required.has(name)) isRequired = true;
    else if (Object.hasOwn(properties, name)) isRequired = false;
    return { name, required: isRequired, type };
  });
}

// ---- variables schema ----

function compileSchema(ajv: Ajv, schema: Record<string, unknown>): ValidateFunction {
  if (schema.type !== undefined && schema.type !== "object") {
    throw new TemplateError(`variablesSchema must be an object schema (type "object"), got type ${JSON.stringify(schema.type)}`);
  }
  const limits = checkSchemaLimits(schema);
  if (limits.problem !== undefined) throw new TemplateError(limits.problem, limits.exceeded && { limits: limits.exceeded });
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

// ---- rendering ----

interface Prepared {
  /** Index-aligned with a chat template's items (placeholders have none); one entry for a text template. */
  templates: (HandlebarsTemplateDelegate | undefined)[];
  /** Paths below a root whose absence is reported when the root is given, e.g. ["user", "name"]. */
  paths: string[][];
  placeholders: string[];
  /** The contract's required names (the content hash covers the template and schema they come from). */
  required: string[];
  validate?: ValidateFunction;
}

/** Present the way Handlebars sees it: own property, not undefined. */
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
  if (!(cacheSize >= 1)) throw new RangeError(`cacheSize must be at least 1, got ${cacheSize}`);
  const handlebars = Handlebars.create();
  const guard = createRenderGuard(handlebars, limitError);
  const cache = new Map<string, Prepared>();
  let ajv: Ajv | undefined;

  function prepare(version: RenderableVersion): Prepared {
    const usage = analyze(version.template);
    const sources = typeof version.template === "string" ? [version.template] : version.template.map((item) => ("type" in item ? undefined : item.content));
    return {
      // Handlebars compiles on the first call of each function, so a message is only compiled once it is rendered.
      templates: sources.map((source) => (source === undefined ? undefined : guard.wrap(handlebars.compile(source, COMPILE_OPTIONS), source))),
      paths: [...usage.paths.values()].filter((path) => path.needed).map((path) => path.parts),
      placeholders: [...usage.placeholders],
      required: version.variables.filter((v) => v.required).map((v) => v.name),
      validate: version.variablesSchema ? compileSchema((ajv ??= new Ajv(AJV_OPTIONS)), version.variablesSchema) : undefined,
    };
  }

  function load(version: RenderableVersion): Prepared {
    const key = version.contentHash;
    let prepared = cache.get(key);
    if (prepared) {
      cache.delete(key);
    } else {
      prepared = prepare(version);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, prepared);
    return prepared;
  }

  function render(version: RenderableVersion, values: Record<string, unknown>, renderOptions: RenderOptions = {}): RenderResult {
    const prepared = load(version);

    // Nothing is allocated unless something is missing: this runs on every render.
    let missing: Set<string> | undefined;
    for (const name of prepared.required) if (!has(values, name)) (missing ??= new Set()).add(name);
    for (const parts of prepared.paths) {
      if (!has(values, parts[0])) continue;
      let value = values[parts[0]];
      for (let i = 1; i < parts.length; i++) {
        if (!has(value, parts[i])) {
          (missing ??= new Set()).add(parts.slice(0, i + 1).join("."));
          break;
        }
        value = (value as Record<string, unknown>)[parts[i]];
      }
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
          if (!isMessage(message)) errors.push({ path: `/${name}/${index}`, message: "must be a message with string role and content" });
        });
      }
    }
    if (errors.length > 0) throw invalid(errors);

    if (renderOptions.strictExtras) {
      const known = new Set(version.variables.map((v) => v.name));
      const unexpected = Object.keys(values)
        .filter((key) => values[key] !== undefined && !known.has(key))
        .sort();
      if (unexpected.length > 0) {
        throw new RenderError("unexpected_variables", `unexpected variables: ${unexpected.join(", ")}`, { unexpected });
      }
    }

    if (prepared.validate && !prepared.validate(values)) {
      throw invalid((prepared.validate.errors ?? []).map((e) => ({ path: e.instancePath || "/", message: e.message ?? "is invalid" })));
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
