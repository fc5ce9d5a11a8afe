import { describe, it, expect } from "vitest";
import type { Template } from "../src/contract.js";
import {
  RenderError,
  TemplateError,
  analyzeTemplate,
  checkVariablesSchema,
  createRenderer,
  type RenderableVersion,
} from "../src/render.js";
import { thrown, version } from "./rendering.js";

function names(template: Template): string[] {
  return analyzeTemplate(template).map((v) => v.name);
}

describe("analyzeTemplate", () => {
  it("collects root variables, sorted, required and untyped", () => {
    expect(analyzeTemplate("Hi {{name}}, {{{raw}}} {{&amp}} {{this.me}} {{./self}} {{name}}")).toEqual([
      { name: "amp", required: true, type: null },
      { name: "me", required: true, type: null },
      { name: "name", required: true, type: null },
      { name: "raw", required: true, type: null },
      { name: "self", required: true, type: null },
    ]);
  });

  it("lists the paths below a root that must be given, and guesses no type from them", () => {
    expect(analyzeTemplate("{{user.name}} {{user.address.city}} {{user.[first name]}}")).toEqual([
      {
        name: "user",
        required: true,
        type: null,
        paths: ["user.[first name]", "user.address", "user.address.city", "user.name"],
      },
    ]);
  });

  it("ignores comments and plain text", () => {
    expect(analyzeTemplate("{{!-- {{hidden}} --}}{{! {{also}} }} text")).toEqual([]);
  });

  it("treats a literal in head position as the key Handlebars looks up", () => {
    expect(names('{{"first name"}} {{[last name]}}')).toEqual(["first name", "last name"]);
  });

  it("scopes each/with bodies: only ../ back to the root and @root are variables", () => {
    const spec = analyzeTemplate(
      "{{#each items}}{{title}} {{../prefix}} {{@root.suffix}} {{@index}} {{@key}} {{this}} {{.}}{{/each}}" +
        "{{#with profile}}{{bio}} {{../x}} {{@root.cfg.mode}}{{/with}}",
    );
    expect(spec).toEqual([
      { name: "cfg", required: true, type: null, paths: ["cfg.mode"] },
      { name: "items", required: false, type: null },
      { name: "prefix", required: true, type: null },
      { name: "profile", required: false, type: null, paths: ["profile.bio"] },
      { name: "suffix", required: true, type: null },
      { name: "x", required: true, type: null },
    ]);
  });

  it("counts ../ against nested context changes only", () => {
    expect(names("{{#each a}}{{#each b}}{{../../c}} {{../d}}{{/each}}{{/each}}")).toEqual(["a", "c"]);
    // if keeps the context, so ../ inside it points past the root and Handlebars resolves nothing.
    expect(names("{{#if a}}{{b}} {{../c}}{{/if}}")).toEqual(["a", "b"]);
    expect(names("{{#each a}}{{#if x}}{{../y}}{{/if}}{{/each}}")).toEqual(["a", "y"]);
  });

  it("keeps the outer context in {{else}} branches and inverted sections", () => {
    expect(names("{{#each items}}{{inner}}{{else}}{{empty}}{{/each}}")).toEqual(["empty", "items"]);
    expect(names("{{#section}}{{inner}}{{/section}}{{^none}}{{fallback}}{{/none}}")).toEqual([
      "fallback",
      "none",
      "section",
    ]);
  });

  it("makes a variable optional when every use is a condition or inside its own guard", () => {
    expect(
      analyzeTemplate(
        "{{#if a}}A{{/if}}{{#unless b}}B{{/unless}}{{#if c}}{{c}}{{/if}}{{#if d.e}}D{{else if f}}F{{/if}}{{#if g}}{{else}}{{g.h}}{{/if}}",
      ),
    ).toEqual([
      { name: "a", required: false, type: null },
      { name: "b", required: false, type: null },
      { name: "c", required: false, type: null },
      { name: "d", required: false, type: null },
      { name: "f", required: false, type: null },
      // An else branch proves nothing present.
      { name: "g", required: true, type: null, paths: ["g.h"] },
    ]);
  });

  it("takes helper params and hash values as variables, not the helper name", () => {
    expect(analyzeTemplate('{{lookup obj key}} {{lookup map "k"}} {{#if flag includeZero=zero}}y{{/if}}')).toEqual([
      { name: "flag", required: false, type: null },
      { name: "key", required: true, type: null },
      { name: "map", required: true, type: null, paths: ["map.k"] },
      { name: "obj", required: true, type: null },
      { name: "zero", required: true, type: null },
    ]);
  });

  it("walks sub-expressions: a lookup's target is read as the condition asks, its key is needed", () => {
    expect(
      analyzeTemplate('{{#if (lookup flags name)}}y{{/if}}{{#each (lookup groups "a")}}{{member}}{{/each}}'),
    ).toEqual([
      { name: "flags", required: false, type: null },
      { name: "groups", required: false, type: null },
      { name: "name", required: true, type: null },
    ]);
  });

  it("analyzes every chat message and adds placeholders as messages variables", () => {
    expect(
      analyzeTemplate([
        { role: "system", content: "You are {{persona}}.{{#if style}} Be {{style}}.{{/if}}" },
        { type: "placeholder", name: "history" },
        { role: "user", content: "{{question}}{{#if debug}}!{{/if}}" },
      ]),
    ).toEqual([
      { name: "debug", required: false, type: null },
      { name: "history", required: true, type: "messages" },
      { name: "persona", required: true, type: null },
      { name: "question", required: true, type: null },
      { name: "style", required: false, type: null },
    ]);
  });

  it("types and re-flags variables from a JSON Schema, adding schema-only properties", () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        tags: { type: ["array", "null"] },
        vip: { type: "boolean" },
        age: { type: "integer" },
        nick: { type: "string" },
        free: {},
      },
      required: ["vip", "age", "token"],
    };
    expect(analyzeTemplate("{{name}} {{#each tags}}{{/each}}{{#if vip}}{{/if}} {{other}}", schema)).toEqual([
      { name: "age", required: true, type: "integer" },
      { name: "free", required: false, type: null },
      { name: "name", required: false, type: "string" },
      { name: "nick", required: false, type: "string" },
      { name: "other", required: true, type: null },
      { name: "tags", required: false, type: "array" },
      { name: "token", required: true, type: null },
      { name: "vip", required: true, type: "boolean" },
    ]);
  });

  it("keeps a placeholder's messages type under a schema, which may still make it optional", () => {
    const template: Template = [{ type: "placeholder", name: "history" }];
    expect(analyzeTemplate(template, { type: "object", properties: { history: { type: "array" } } })).toEqual([
      { name: "history", required: false, type: "messages" },
    ]);
  });

  it("refuses partials and decorators", () => {
    for (const source of ["{{> header}}", "{{#> layout}}x{{/layout}}", "{{> (whichPartial) }}"]) {
      const err = thrown(() => analyzeTemplate(source));
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as TemplateError).code).toBe("invalid_template");
      expect((err as TemplateError).message).toMatch(/^partials are not supported/);
    }
    expect(() => analyzeTemplate('{{#*inline "x"}}y{{/inline}}')).toThrow(/decorators are not supported/);
    expect(() =>
      analyzeTemplate([
        { role: "user", content: "ok" },
        { role: "user", content: "{{> x}}" },
      ]),
    ).toThrow(/^messages\[1\]: partials are not supported/);
  });

  it("turns parse errors into TemplateErrors carrying Handlebars' message, located as every template error is", () => {
    const err = thrown(() => analyzeTemplate("Hello\n{{name"));
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toMatch(/^Parse error at line 2, column 3:\nHello\{\{name\n/);
    expect((err as TemplateError).details).toEqual({ line: 2, column: 3 });
    // Handlebars' own " - 1:3" (a 0-based column) is said the same way: no second format.
    const mismatch = thrown(() => analyzeTemplate("{{#if a}}x{{/unless}}"));
    expect(mismatch).toBeInstanceOf(TemplateError);
    expect((mismatch as Error).message).toBe("if doesn't match unless at line 1, column 4");
    expect((mismatch as TemplateError).details).toEqual({ line: 1, column: 4 });
    expect(() =>
      analyzeTemplate([
        { role: "system", content: "fine" },
        { type: "placeholder", name: "h" },
        { role: "user", content: "{{#if x}}open" },
      ]),
    ).toThrow(/^messages\[2\]: Parse error at line 1, column \d+:/);
  });

  it("refuses helpers that would throw at render time", () => {
    expect(() => analyzeTemplate("{{upper name}}")).toThrow(/unknown helper "upper"/);
    expect(() => analyzeTemplate("{{#if (upper name)}}x{{/if}}")).toThrow(/unknown helper "upper"/);
    expect(() => analyzeTemplate("{{#list items x=1}}{{/list}}")).toThrow(/unknown helper "list"/);
    expect(() => analyzeTemplate("{{helperMissing}}")).toThrow(/calls the built-in helper "helperMissing"/);
    expect(() => analyzeTemplate("{{#helperMissing x}}{{/helperMissing}}")).toThrow(/unknown helper "helperMissing"/);
    expect(() => analyzeTemplate("{{if a}}")).toThrow(/if only works as a block/);
    expect(() => analyzeTemplate("{{log a}}")).toThrow(/unknown helper "log"/);
    expect(() => analyzeTemplate("{{#if a b}}x{{/if}}")).toThrow(/if takes exactly 1 argument/);
    expect(() => analyzeTemplate("{{#each}}x{{/each}}")).toThrow(/each takes exactly 1 argument/);
    expect(() => analyzeTemplate("{{lookup a}}")).toThrow(/lookup takes exactly 2 arguments/);
    expect(() => analyzeTemplate("{{with}}")).toThrow(TemplateError);
  });
});

describe("checkVariablesSchema", () => {
  it("accepts object schemas, with or without an explicit type", () => {
    expect(() => checkVariablesSchema({ type: "object", properties: { a: { type: "string" } } })).not.toThrow();
    expect(() => checkVariablesSchema({ properties: { a: { type: "number" } } })).not.toThrow();
  });

  it("refuses a non-object schema and an invalid one, with Ajv's message", () => {
    expect(() => checkVariablesSchema({ type: "array" })).toThrow(TemplateError);
    expect(() => checkVariablesSchema({ type: "array" })).toThrow(/object/);
    const err = thrown(() => checkVariablesSchema({ type: "object", properties: { a: { type: "strng" } } }));
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toMatch(/must be equal to one of the allowed values/);
  });
});

describe("render", () => {
  it("renders text without HTML escaping", () => {
    const out = createRenderer().render(version("{{x}} <b>&</b> {{{y}}}"), { x: `<i>"&'</i>`, y: "&amp;" });
    expect(out).toEqual({ text: `<i>"&'</i> <b>&</b> &amp;` });
  });

  it("treats falsy values as given", () => {
    expect(createRenderer().render(version("{{n}}|{{s}}|{{f}}|{{z}}"), { n: 0, s: "", f: false, z: null })).toEqual({
      text: "0||false|",
    });
  });

  it("resolves ../ and @root the way the analysis assumed", () => {
    const out = createRenderer().render(version("{{#each items}}{{name}}{{../sep}}{{@root.end}}{{/each}}"), {
      items: [{ name: "a" }, { name: "b" }],
      sep: ",",
      end: ";",
    });
    expect(out).toEqual({ text: "a,;b,;" });
  });

  it("reports every missing variable at once, nested paths included", () => {
    const v = version("{{a}} {{b}} {{user.name}} {{user.address.city}} {{#if opt}}{{/if}}");
    const err = thrown(() => createRenderer().render(v, { b: undefined, user: { address: {} } }));
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).code).toBe("missing_variables");
    expect((err as RenderError).details).toEqual({ missing: ["a", "b", "user.address.city", "user.name"] });
    expect((err as Error).message).toBe("missing variables: a, b, user.address.city, user.name");

    // An absent root is reported once, not once per path below it.
    const bare = thrown(() => createRenderer().render(v, {}));
    expect((bare as RenderError).details.missing).toEqual(["a", "b", "user"]);
  });

  it("reports the first missing segment of a deep path, and does not require guarded paths", () => {
    const r = createRenderer();
    expect((thrown(() => r.render(version("{{a.b.c}}"), { a: { x: 1 } })) as RenderError).details.missing).toEqual([
      "a.b",
    ]);
    expect((thrown(() => r.render(version("{{a.b}}"), { a: "str" })) as RenderError).details.missing).toEqual(["a.b"]);
    expect(r.render(version("{{#if user.admin}}admin {{/if}}{{user.name}}"), { user: { name: "n" } })).toEqual({
      text: "n",
    });
    expect(r.render(version("{{#if a}}{{a}}{{/if}}"), { a: "x" })).toEqual({ text: "x" });
  });

  it("renders absent optional variables as empty", () => {
    expect(createRenderer().render(version("[{{#if a}}{{else}}none{{/if}}]"), {})).toEqual({ text: "[none]" });
  });

  it("refuses unexpected variables only with strictExtras", () => {
    const v = version("{{a}}{{#if b}}{{/if}}");
    const r = createRenderer();
    const values = { a: 1, b: true, zz: 1, extra: 2, gone: undefined };
    expect(r.render(v, values)).toEqual({ text: "1" });
    expect(r.render(v, values, { strictExtras: false })).toEqual({ text: "1" });
    const err = thrown(() => r.render(v, values, { strictExtras: true }));
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).code).toBe("unexpected_variables");
    expect((err as RenderError).details).toEqual({ unexpected: ["extra", "zz"] });
    expect(r.render(v, { a: 1 }, { strictExtras: true })).toEqual({ text: "1" });
  });

  it("validates values against the variables schema", () => {
    const schema = {
      type: "object",
      properties: { age: { type: "integer" }, name: { type: "string" } },
      additionalProperties: false,
    };
    const v = version("{{name}} is {{age}}", schema);
    const r = createRenderer();
    expect(r.render(v, { name: "Ann", age: 30 })).toEqual({ text: "Ann is 30" });
    const err = thrown(() => r.render(v, { name: 3, age: "x" }));
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).code).toBe("invalid_variables");
    expect((err as RenderError).details.errors).toEqual([
      { path: "/age", message: "must be integer" },
      { path: "/name", message: "must be string" },
    ]);
    // Ajv reports object-level problems with an empty instancePath.
    expect((thrown(() => r.render(v, { name: "a", age: 1, more: 1 })) as RenderError).details.errors).toEqual([
      { path: "/", message: "must NOT have additional properties" },
    ]);
  });

  it("compiles schemas sharing an $id for different versions", () => {
    const r = createRenderer();
    const a = version("{{x}}", {
      $id: "https://example.com/vars.json",
      type: "object",
      properties: { x: { type: "string" } },
    });
    const b = version("{{x}}", {
      $id: "https://example.com/vars.json",
      type: "object",
      properties: { x: { type: "number" } },
    });
    expect(r.render(a, { x: "s" })).toEqual({ text: "s" });
    expect(r.render(b, { x: 2 })).toEqual({ text: "2" });
    expect(() => r.render(b, { x: "s" })).toThrow(RenderError);
  });

  it("refuses a bad template at render time too", () => {
    const v: RenderableVersion = { contentHash: "bad", template: "{{> evil}}", variables: [] };
    expect(() => createRenderer().render(v, {})).toThrow(/partials are not supported/);
  });

  describe("chat", () => {
    const template: Template = [
      { role: "system", content: "Be {{tone}} & <brief>." },
      { type: "placeholder", name: "history" },
      { role: "user", content: "{{question}}" },
    ];

    it("renders every message and fills placeholders in place, verbatim", () => {
      const history = [
        { role: "user", content: "{{tone}} {{#each x}} {{> p}}" },
        { role: "assistant", content: "ok", name: "bot" },
      ];
      const out = createRenderer().render(version(template), { tone: "kind", question: "why {{tone}}?", history });
      expect(out).toEqual({
        messages: [
          { role: "system", content: "Be kind & <brief>." },
          { role: "user", content: "{{tone}} {{#each x}} {{> p}}" },
          { role: "assistant", content: "ok", name: "bot" },
          { role: "user", content: "why {{tone}}?" },
        ],
      });
      if (!("messages" in out)) throw new Error("expected messages");
      expect(out.messages[1]).not.toBe(history[0]);
    });

    it("drops an empty placeholder slot", () => {
      expect(createRenderer().render(version(template), { tone: "t", question: "q", history: [] })).toEqual({
        messages: [
          { role: "system", content: "Be t & <brief>." },
          { role: "user", content: "q" },
        ],
      });
    });

    it("requires placeholders and checks their shape", () => {
      const r = createRenderer();
      const v = version(template);
      expect((thrown(() => r.render(v, { tone: "t", question: "q" })) as RenderError).details).toEqual({
        missing: ["history"],
      });
      expect((thrown(() => r.render(v, { tone: "t", question: "q", history: "hi" })) as RenderError).details).toEqual({
        errors: [{ path: "/history", message: "must be an array of messages" }],
      });
      const err = thrown(() =>
        r.render(v, { tone: "t", question: "q", history: [{ role: "user", content: "ok" }, { role: "user" }, null] }),
      );
      expect((err as RenderError).code).toBe("invalid_variables");
      expect((err as RenderError).details.errors?.map((e) => e.path)).toEqual(["/history/1", "/history/2"]);
    });

    it("drops an optional placeholder that is not given", () => {
      const v = version(template, { type: "object", properties: { history: { type: "array" } } });
      expect(createRenderer().render(v, { tone: "t", question: "q" })).toEqual({
        messages: [
          { role: "system", content: "Be t & <brief>." },
          { role: "user", content: "q" },
        ],
      });
    });
  });

  describe("prototype access", () => {
    it("never resolves inherited properties inside a changed context", () => {
      const user = Object.assign(Object.create({ secret: "s" }) as object, { name: "n" });
      const out = createRenderer().render(
        version(
          "{{#with user}}[{{name}}|{{#if constructor.name}}c{{/if}}|{{#if __proto__}}p{{/if}}|{{#if secret}}s{{/if}}|" +
            '{{#if toString}}t{{/if}}|{{#if (lookup this "constructor")}}l{{/if}}]{{/with}}',
        ),
        { user },
      );
      expect(out).toEqual({ text: "[n|||||]" });
      // Inherited properties are not given either: read as values they are missing.
      const err = thrown(() =>
        createRenderer().render(version("{{#with user}}{{secret}}{{constructor.name}}{{/with}}"), { user }),
      );
      expect((err as RenderError).details.missing).toEqual(["user.constructor", "user.secret"]);
    });

    it("renders constructor and __proto__ empty at the root", () => {
      const v = version(
        "[{{#with constructor}}{{name}}{{/with}}|{{#if __proto__}}p{{/if}}|{{^constructor}}none{{/constructor}}]",
      );
      expect(v.variables).toEqual([
        { name: "__proto__", required: false, type: null },
        { name: "constructor", required: false, type: null, paths: ["constructor.name"] },
      ]);
      expect(createRenderer().render(v, {})).toEqual({ text: "[||none]" });
    });

    it("does not count inherited properties as given", () => {
      const r = createRenderer();
      const values = Object.create({ name: "inherited" }) as Record<string, unknown>;
      expect((thrown(() => r.render(version("{{name}}"), values)) as RenderError).details.missing).toEqual(["name"]);
      const user = Object.create({ admin: true }) as Record<string, unknown>;
      expect(r.render(version("{{#if user.admin}}yes{{else}}no{{/if}}"), { user })).toEqual({ text: "no" });
    });
  });

  describe("cache", () => {
    it("keeps rendering correctly while evicting past cacheSize", () => {
      const r = createRenderer({ cacheSize: 2 });
      const versions = Array.from({ length: 6 }, (_, i) => version(`t${i}:{{x}}`));
      for (const order of [
        [0, 1, 2, 3, 4, 5],
        [5, 0, 5, 1, 2, 0, 3, 4, 1],
      ]) {
        for (const i of order) expect(r.render(versions[i], { x: i })).toEqual({ text: `t${i}:${i}` });
      }
    });

    it("caches per contentHash, including chat messages by index", () => {
      const r = createRenderer({ cacheSize: 1 });
      const chat = version([
        { role: "system", content: "{{x}}1" },
        { type: "placeholder", name: "h" },
        { role: "user", content: "{{x}}2" },
      ]);
      for (let i = 0; i < 3; i++) {
        expect(r.render(chat, { x: i, h: [] })).toEqual({
          messages: [
            { role: "system", content: `${i}1` },
            { role: "user", content: `${i}2` },
          ],
        });
        expect(r.render(version("{{x}}"), { x: i })).toEqual({ text: `${i}` });
      }
    });

    it("rejects a cache size below one or not whole", () => {
      expect(() => createRenderer({ cacheSize: 0 })).toThrow(RangeError);
      expect(() => createRenderer({ cacheSize: Number.NaN })).toThrow(RangeError);
      expect(() => createRenderer({ cacheSize: 1.5 })).toThrow(RangeError);
    });
  });
});
