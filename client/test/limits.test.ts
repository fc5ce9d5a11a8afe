import Handlebars from "handlebars";
import { describe, expect, it } from "vitest";
import { RENDER_LIMITS, TEMPLATE_LIMITS, scanTemplate, templateLimitsExceeded } from "../src/limits.js";
import { RenderError, TemplateError, analyzeTemplate, checkVariablesSchema, createRenderer } from "../src/render.js";
import { SCHEMA_LIMITS, checkSchemaLimits } from "../src/schema-limits.js";
import { thrown, version } from "./rendering.js";

// What Handlebars' own parser sees: statements and expressions (text and program nodes excluded), and how deeply
// blocks and sub-expressions nest (an `{{else if}}` chain continues its block rather than nesting).
function fromAst(source: string): { nodes: number; depth: number } {
  let nodes = 0;
  let depth = 0;
  function visit(node: unknown, level: number): void {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, level);
      return;
    }
    const n = node as Record<string, unknown> & { type?: string };
    let next = level;
    if (n.type === "BlockStatement" || n.type === "SubExpression") {
      next = level + 1;
      depth = Math.max(depth, next);
    }
    if (n.type && n.type !== "Program" && n.type !== "ContentStatement" && n.type !== "Hash") nodes++;
    for (const [key, value] of Object.entries(n)) {
      if (key === "loc" || key === "strip" || key === "openStrip" || key === "closeStrip" || key === "inverseStrip")
        continue;
      const chained = key === "inverse" && (value as { chained?: boolean } | undefined)?.chained;
      visit(value, chained ? level : next);
    }
  }
  visit(Handlebars.parse(source), 0);
  return { nodes, depth };
}

describe("scanTemplate", () => {
  it("counts what Handlebars parses: tags, names, literals and sub-expressions, and their nesting", () => {
    const templates = [
      "plain text",
      "Hi {{name}}, {{{raw}}} {{&amp}} {{user.address.city}}",
      "{{#each items}}{{title}} {{../prefix}} {{@root.x}}{{else}}none{{/each}}",
      "{{#if a}}A{{else if b}}B{{else if (lookup c d)}}C{{else}}D{{/if}}",
      "{{~#if a~}} x {{~/if~}}",
      "{{lookup map \"a }} b\"}} {{lookup map 'it\\'s'}} {{lookup map [odd key]}}",
      "{{log a b c level=lvl tag=(lookup x y)}}",
      "{{#if (lookup (lookup a b) (lookup c d))}}{{#with e}}{{#each f}}{{g}}{{/each}}{{/with}}{{/if}}",
      "{{#section}}in{{/section}}{{^inverse}}out{{/inverse}}{{#a}}x{{^}}y{{/a}}",
      "{{! a {{short}} comment }}{{!-- a {{long}} }} comment --}}{{!--}}{{~!-- x --~}}after {{b}}",
      "\\{{escaped}} \\\\{{real}} {{also}}",
      "{{#each items as |item i|}}{{item}}{{i}}{{/each}}",
      "{{ spaced }} {{ else }}",
      "{{{{raw}}}} {{x}} {{{{/raw}}}}",
    ];
    for (const source of templates) {
      let reference: { nodes: number; depth: number };
      try {
        reference = fromAst(source);
      } catch {
        continue; // not valid Handlebars; nothing to compare with
      }
      const scanned = scanTemplate(source);
      expect(scanned.nodes, source).toBeGreaterThanOrEqual(reference.nodes);
      expect(scanned.nodes, source).toBeLessThanOrEqual(reference.nodes + 3);
      expect(scanned.depth, source).toBe(reference.depth);
      expect(scanned.chars).toBe(source.length);
    }
  });

  it("measures the issue's 20,000-deep template in milliseconds, without Handlebars", () => {
    const deep = `${"{{#if a}}".repeat(20_000)}x${"{{/if}}".repeat(20_000)}`;
    // Each opening tag is three nodes: the block, `if` and `a`.
    expect(scanTemplate(deep)).toEqual({ chars: deep.length, nodes: 60_000, depth: 20_000 });
  });
});

describe("templateLimitsExceeded", () => {
  it("accepts a template at every limit", () => {
    const nested = "{{#if a}}".repeat(TEMPLATE_LIMITS.maxDepth) + "{{/if}}".repeat(TEMPLATE_LIMITS.maxDepth);
    const filler = "{{b}}".repeat((TEMPLATE_LIMITS.maxNodes - 3 * TEMPLATE_LIMITS.maxDepth) / 2);
    const atLimit = nested + filler + "x".repeat(TEMPLATE_LIMITS.maxChars - nested.length - filler.length);
    expect(scanTemplate(atLimit)).toEqual({
      chars: TEMPLATE_LIMITS.maxChars,
      nodes: TEMPLATE_LIMITS.maxNodes,
      depth: TEMPLATE_LIMITS.maxDepth,
    });
    expect(templateLimitsExceeded(atLimit)).toEqual([]);
    expect(analyzeTemplate(atLimit).map((v) => v.name)).toEqual(["a", "b"]);
  });

  it("names every limit a template exceeds, with the value found, as a TemplateError from the analysis", () => {
    const err = thrown(() => analyzeTemplate("{{#if a}}".repeat(2_000) + "{{/if}}".repeat(2_000)));
    expect(err).toBeInstanceOf(TemplateError);
    expect(err.message).toBe("template exceeds limits: nesting depth 2000 (limit 32); template nodes 6000 (limit 600)");
    expect((err as TemplateError).details).toEqual({
      limits: [
        { limit: "nesting depth", max: 32, found: 2000 },
        { limit: "template nodes", max: 600, found: 6000 },
      ],
    });
    expect(thrown(() => analyzeTemplate("é".repeat(TEMPLATE_LIMITS.maxChars + 1))).message).toBe(
      "template exceeds a limit: template size (characters) 100001 (limit 100000)",
    );
    expect(thrown(() => analyzeTemplate(`{{log ${"a ".repeat(1_000)}}}`)).message).toContain(
      "template nodes 1002 (limit 600)",
    );
    expect(
      thrown(() => analyzeTemplate(`{{lookup ${"(lookup ".repeat(40)}a b${")".repeat(40)} c}}`)).message,
    ).toContain("nesting depth 40 (limit 32)");
  });

  it("adds up the messages of a chat template", () => {
    const message = { role: "user" as const, content: "{{a}}".repeat(150) };
    expect(templateLimitsExceeded([message, message])).toEqual([]);
    expect(templateLimitsExceeded([message, message, { type: "placeholder", name: "h" }, message, message])).toEqual([
      { limit: "template nodes", max: 600, found: 1200 },
    ]);
  });
});

describe("render limits", () => {
  it("charges loop iterations by the size of the loop's body, nested loops multiplying", () => {
    const renderer = createRenderer();
    const items = Array.from({ length: 100 }, (_, i) => i);
    const nested = version("{{#each a}}{{#each ../a}}{{#each ../../a}}{{this}}{{/each}}{{/each}}{{/each}}");
    const err = thrown(() => renderer.render(nested, { a: items }));
    expect(err).toBeInstanceOf(RenderError);
    expect(err).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "render steps", max: RENDER_LIMITS.maxSteps } },
    });
    expect(err.message).toBe(
      "rendering needs more than 250000 steps (loop iterations × (5 + nodes in the loop's body))",
    );
    // A small body over many items fits: 20,000 iterations of a 7-node block (`each rows` and two mustaches), 12 steps each.
    const rows = version("{{#each rows}}{{id}},{{name}}\n{{/each}}");
    const many = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: "n" }));
    expect((renderer.render(rows, { rows: many }) as { text: string }).text.split("\n")).toHaveLength(20_001);
    expect(() => renderer.render(rows, { rows: [...many, ...many.slice(0, 900)] })).toThrow(/250000 steps/);
    // Mustache sections over arrays iterate through the same helper.
    const sections = version("{{#a}}{{#@root.b}}{{#@root.c}}x{{/@root.c}}{{/@root.b}}{{/a}}");
    expect(() => renderer.render(sections, { a: items, b: items, c: items })).toThrow(/250000 steps/);
  });

  it("refuses to render more text than the limit, counting every message, and the budget restarts each render", () => {
    const renderer = createRenderer();
    const big = "x".repeat(1_000_000);
    const six = version("{{a}}{{a}}{{a}}{{a}}{{a}}{{a}}");
    expect(thrown(() => renderer.render(six, { a: big }))).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "rendered characters", max: 5_000_000, found: 6_000_000 } },
    });
    const chat = version([
      { role: "user", content: "{{a}}{{a}}{{a}}" },
      { role: "assistant", content: "{{a}}{{a}}{{a}}" },
    ]);
    expect(thrown(() => renderer.render(chat, { a: big })).message).toBe(
      "the rendered text would exceed 5000000 characters",
    );
    expect(renderer.render(version("{{a}}{{a}}{{a}}{{a}}{{a}}"), { a: big })).toMatchObject({ text: big.repeat(5) });
    // Past the longest string the engine can build: refused, not a crash.
    const amplified = version(`{{#each a}}${"{{../b}}".repeat(200)}{{/each}}`);
    expect(thrown(() => renderer.render(amplified, { a: [1, 2], b: big }))).toMatchObject({ code: "limit_exceeded" });
    expect(thrown(() => renderer.render(version("{{b}}".repeat(300)), { b: big.repeat(2) }))).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "rendered characters", found: 2 ** 29 } },
    });
  });

  it("keeps {{log}} off the console: `log` is a variable, and the log helper is gone", () => {
    const logged: unknown[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => logged.push(args);
    try {
      expect(createRenderer().render(version("{{#each a}}{{log}}{{/each}}"), { a: [1, 2, 3], log: "x" })).toEqual({
        text: "",
      });
      expect(createRenderer().render(version("{{log}}"), { log: "forged line" })).toEqual({ text: "forged line" });
      expect(() => version("{{log this}}")).toThrow(/unknown helper "log"/);
    } finally {
      console.log = original;
    }
    expect(logged).toEqual([]);
  });
});

describe("schema limits", () => {
  function problem(schema: Record<string, unknown>): string {
    const err = thrown(() => checkVariablesSchema(schema));
    expect(err).toBeInstanceOf(TemplateError);
    return err.message;
  }

  it("refuses unsupported patterns wherever a schema can hold one", () => {
    const lookahead = "^(?=.*[0-9]).+$";
    expect(problem({ properties: { p: { type: "string", pattern: lookahead } } })).toContain(
      `pattern "^(?=.*[0-9]).+$" is not supported`,
    );
    expect(problem({ patternProperties: { [lookahead]: {} } })).toContain("is not supported");
    expect(problem({ propertyNames: { pattern: "(a)\\1" } })).toContain('pattern "(a)\\\\1" is not supported');
    expect(problem({ definitions: { unused: { pattern: "(?<=a)b" } } })).toContain("is not supported");
    expect(problem({ properties: { list: { items: { anyOf: [{ pattern: "[" }] } } } })).toContain(
      "not a valid ECMAScript regular expression",
    );
  });

  it("refuses schemas too large, too deep, or expanding through $ref", () => {
    expect(problem({ properties: { a: { enum: Array.from({ length: 5_000 }, (_, i) => i) } } })).toBe(
      "variablesSchema exceeds a limit: schema nodes 501 (limit 500)",
    );
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 20; i++) deep = { type: "object", properties: { x: deep } };
    expect(problem(deep)).toBe("variablesSchema exceeds a limit: schema depth 33 (limit 32)");
    const definitions: Record<string, unknown> = { d20: { type: "object" } };
    for (let i = 0; i < 20; i++)
      definitions[`d${i}`] = { allOf: [{ $ref: `#/definitions/d${i + 1}` }, { $ref: `#/definitions/d${i + 1}` }] };
    expect(problem({ definitions, $ref: "#/definitions/d0" })).toBe(
      `variablesSchema exceeds a limit: schema nodes with $ref expanded ${SCHEMA_LIMITS.maxExpandedNodes + 1} (limit ${SCHEMA_LIMITS.maxExpandedNodes})`,
    );
  });

  it("refuses recursive, external and re-based references", () => {
    expect(problem({ anyOf: [{ $ref: "#" }] })).toBe(
      '$ref "#" is recursive; recursive schemas are not supported in variablesSchema',
    );
    expect(
      problem({
        definitions: { node: { properties: { next: { $ref: "#/definitions/node" } } } },
        properties: { n: { $ref: "#/definitions/node" } },
      }),
    ).toContain("is recursive");
    expect(problem({ properties: { a: { $ref: "https://example.com/s.json" } } })).toContain(
      "only references inside variablesSchema",
    );
    expect(problem({ properties: { a: { $id: "other", type: "string" } } })).toBe(
      "$id is only supported at the root of variablesSchema",
    );
    expect(() =>
      checkVariablesSchema({
        definitions: { name: { type: "string" } },
        properties: { a: { $ref: "#/definitions/name" } },
      }),
    ).not.toThrow();
  });

  it("accepts uniqueItems only on scalar items, where ajv checks it in linear time", () => {
    expect(problem({ properties: { a: { type: "array", uniqueItems: true } } })).toContain(
      'uniqueItems needs "items" with a scalar "type"',
    );
    expect(problem({ properties: { a: { items: { type: "object" }, uniqueItems: true } } })).toContain("quadratic");
    expect(() =>
      checkVariablesSchema({ properties: { a: { items: { type: ["string", "integer"] }, uniqueItems: true } } }),
    ).not.toThrow();
  });

  it("bounds the work of one validation: values × schema size, and pattern steps", () => {
    const schema = {
      type: "object",
      properties: { tags: { type: "array", items: { type: "string", pattern: "^[a-z]+$" } } },
    };
    const cost = checkSchemaLimits(schema);
    expect(cost).toEqual({ cost: 7 });
    const renderer = createRenderer();
    const v = version("{{#each tags}}{{this}} {{/each}}", schema);
    expect(renderer.render(v, { tags: ["ab", "cd"] })).toEqual({ text: "ab cd " });
    expect(thrown(() => renderer.render(v, { tags: ["ab", "C"] }))).toMatchObject({ code: "invalid_variables" });
    // Without the pattern the schema is 6 nodes: 41,666 values × 6 is the limit of 250,000 checks; the values are the
    // object, the array and its items.
    const plain = version("{{tags}}", {
      type: "object",
      properties: { tags: { type: "array", items: { type: "string" } } },
    });
    expect(renderer.render(plain, { tags: Array(41_664).fill("a") })).toEqual({
      text: Array(41_664).fill("a").join(","),
    });
    expect(thrown(() => renderer.render(plain, { tags: Array(41_665).fill("a") }))).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "variable values × schema nodes", max: SCHEMA_LIMITS.maxValidationWork } },
    });
    // Errors past the first hundred are counted, not listed.
    const many = thrown(() => renderer.render(v, { tags: Array(250).fill("A") })) as RenderError;
    expect(many.details.errors).toHaveLength(101);
    expect(many.details.errors![100]).toEqual({ path: "/", message: "and 150 more errors" });
    // The pattern budget: 3,571 matches of one character (56 steps each), or fewer of longer strings.
    expect(renderer.render(v, { tags: Array(3_571).fill("a") })).toMatchObject({
      text: expect.stringMatching(/^(a ){3571}$/),
    });
    expect(thrown(() => renderer.render(v, { tags: Array(3_572).fill("a") }))).toMatchObject({
      details: { limit: { limit: "pattern steps" } },
    });
    expect(thrown(() => renderer.render(v, { tags: Array(10).fill("a".repeat(20_000)) }))).toMatchObject({
      code: "limit_exceeded",
      message: "pattern checks need more than 200000 steps (characters checked × pattern size)",
      details: { limit: { limit: "pattern steps", max: 200_000 } },
    });
  });
});
