import { describe, expect, it } from "vitest";
import type { VariableSpec } from "@promptreg/client/contract";
import { parseRef } from "../src/prompts/refs.js";
import { canonicalJson, contentHash, pickVersion, requiredBump, type Contract } from "../src/prompts/versioning.js";

const v = (name: string, required = true, type: VariableSpec["type"] = null): VariableSpec => ({
  name,
  required,
  type,
});

describe("requiredBump", () => {
  const base: Contract = {
    template: "t",
    variablesSchema: null,
    variables: [v("a"), v("b", false)],
    config: { model: "m1" },
  };
  it("is patch when only the text changes, and says so", () => {
    expect(requiredBump(base, { ...base, template: "u" })).toEqual({
      bump: "patch",
      reasons: ["template text changed"],
    });
  });
  it("is minor for a new optional variable, one no longer required, or a config change", () => {
    expect(requiredBump(base, { ...base, variables: [...base.variables, v("c", false)] }).bump).toBe("minor");
    expect(requiredBump(base, { ...base, variables: [v("a", false), v("b", false)] }).reasons).toEqual([
      "variable 'a' became optional",
    ]);
    expect(requiredBump(base, { ...base, config: { model: "m2" } }).bump).toBe("minor");
  });
  it("is major for a required variable added, any variable removed, or a placeholder", () => {
    expect(requiredBump(base, { ...base, variables: [...base.variables, v("c")] })).toMatchObject({
      bump: "major",
      reasons: ["required variable 'c' added"],
    });
    expect(requiredBump(base, { ...base, variables: [v("b", false)] }).reasons).toEqual([
      "required variable 'a' removed",
    ]);
    // strictExtras refuses a variable the version no longer has.
    expect(requiredBump(base, { ...base, variables: [v("a")] }).reasons).toEqual(["optional variable 'b' removed"]);
    expect(requiredBump(base, { ...base, variables: [v("a", true, "messages"), v("b", false)] }).bump).toBe("major");
  });
  it("never bumps on a type alone: types come from the schema, which is compared as a schema", () => {
    expect(requiredBump(base, { ...base, variables: [v("a", true, "array"), v("b", false)] }).bump).toBe("patch");
  });
  it("is major for a required path added below a variable, minor for one dropped", () => {
    const paths = (...p: string[]): Contract => ({ ...base, variables: [{ ...v("a"), paths: p }, v("b", false)] });
    expect(requiredBump(paths("a.x"), paths("a.x", "a.y"))).toEqual({
      bump: "major",
      reasons: ["required path 'a.y' added"],
    });
    expect(requiredBump(paths("a.x", "a.y"), paths("a.y"))).toEqual({
      bump: "minor",
      reasons: ["path 'a.x' no longer required"],
    });
  });
  it("ignores key order in config", () => {
    const empty: Contract = { template: "t", variablesSchema: null, variables: [], config: { a: 1, b: 2 } };
    expect(requiredBump(empty, { ...empty, config: { b: 2, a: 1 } })).toEqual({ bump: "patch", reasons: [] });
  });
});

describe("pickVersion", () => {
  const patch = { bump: "patch" as const, reasons: ["template text changed"] };
  const major = { bump: "major" as const, reasons: ["required variable 'x' added"] };
  it("starts at 1.0.0 and follows the required bump", () => {
    expect(pickVersion(null, major, {})).toBe("1.0.0");
    expect(pickVersion("1.4.2", patch, {})).toBe("1.4.3");
    expect(pickVersion("1.4.2", major, {})).toBe("2.0.0");
  });
  it("accepts a larger explicit bump or version", () => {
    expect(pickVersion("1.4.2", patch, { bump: "minor" })).toBe("1.5.0");
    expect(pickVersion("1.4.2", patch, { version: "3.0.0" })).toBe("3.0.0");
  });
  it("refuses a bump or version smaller than the change needs, saying why", () => {
    expect(() => pickVersion("1.4.2", major, { bump: "minor" })).toThrow(
      /needs a major bump: required variable 'x' added/,
    );
    expect(() => pickVersion("1.4.2", major, { version: "1.5.0" })).toThrow(/minor bump from 1.4.2/);
  });
  it("refuses versions that are not higher, and non-plain semver", () => {
    expect(() => pickVersion("1.4.2", patch, { version: "1.4.2" })).toThrow(/higher than every existing version/);
    expect(() => pickVersion("1.4.2", patch, { version: "1.5.0-beta.1" })).toThrow(/MAJOR.MINOR.PATCH/);
  });
});

describe("parseRef", () => {
  it("tells labels, versions, ranges and labels at a moment apart", () => {
    expect(parseRef("production")).toEqual({ kind: "label", label: "production" });
    expect(parseRef("latest")).toEqual({ kind: "label", label: "latest" });
    expect(parseRef("1.4.2")).toEqual({ kind: "version", version: "1.4.2" });
    expect(parseRef("^1.4")).toEqual({ kind: "range", range: "^1.4" });
    expect(parseRef("~1.4.0")).toEqual({ kind: "range", range: "~1.4.0" });
    expect(parseRef("1.4")).toEqual({ kind: "range", range: "1.4" });
    expect(parseRef("production@2026-11-01T12:00:00Z")).toEqual({
      kind: "labelAt",
      label: "production",
      at: new Date("2026-11-01T12:00:00Z"),
    });
  });
  it("rejects nonsense with a 422", () => {
    expect(() => parseRef("Not A Ref!")).toThrow(/invalid reference/);
    expect(() => parseRef("production@yesterday")).toThrow(/label at a moment/);
  });
});

describe("contentHash", () => {
  it("is stable under key order and changes with content", () => {
    const a = contentHash({ type: "text", template: "x", config: { a: 1, b: 2 }, variablesSchema: null });
    const b = contentHash({ type: "text", template: "x", config: { b: 2, a: 1 }, variablesSchema: null });
    const c = contentHash({ type: "text", template: "y", config: { a: 1, b: 2 }, variablesSchema: null });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });
});
