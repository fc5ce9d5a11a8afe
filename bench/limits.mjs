// What the worst inputs allowed by the limits cost (README "Limits"): each is an input at a limit, in the shape that
// costs most per unit that we know of, timed in this process (best and median of a few runs: the first run of each
// includes compiling the shared code paths, as it would in a server that just started). Target: each under 50 ms.
// Run after `npm run build`: node bench/limits.mjs
import { cpus, loadavg } from "node:os";
import { scanTemplate, TEMPLATE_LIMITS, RENDER_LIMITS } from "../client/dist/limits.js";
import { createRenderer, analyzeTemplate, checkVariablesSchema } from "../client/dist/render.js";
import { SCHEMA_LIMITS } from "../client/dist/schema-limits.js";
import { PATTERN_LIMITS, compilePattern } from "../client/dist/safe-regexp.js";
import { countJsonValues, guardJsonBody, MAX_JSON_VALUES } from "../dist/src/http/input-guard.js";
import { compileCheck, EVAL_LIMITS } from "../dist/src/evals/checks.js";
import { spanText } from "../dist/src/evals/span-text.js";

const TARGET_MS = 50;
const RUNS = 5;
let hash = 0;
const version = (template, variablesSchema) => ({
  contentHash: `bench-${hash++}`,
  template,
  variables: analyzeTemplate(template, variablesSchema),
  variablesSchema,
});

function time(fn) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    try {
      fn(i);
    } catch {
      // Refusals are what some of these measure.
    }
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[RUNS >> 1] };
}

const results = [];
function report(label, fn) {
  const { best, median } = time(fn);
  results.push({ label, best: +best.toFixed(2), median: +median.toFixed(2) });
  console.log(
    `${label.padEnd(64)} best ${best.toFixed(1).padStart(6)} ms, median ${median.toFixed(1).padStart(6)} ms${median > TARGET_MS ? "  OVER" : ""}`,
  );
}

const { maxChars, maxNodes, maxDepth } = TEMPLATE_LIMITS;
const pad = (s) => s + "x".repeat(maxChars - s.length);
const templates = {
  [`${maxNodes / 2} mustaches in ${maxChars} characters`]: pad("{{a}} ".repeat(maxNodes / 2)),
  [`${maxDepth} nested ifs around ${(maxNodes - 3 * maxDepth) / 2} mustaches`]:
    "{{#if a}}".repeat(maxDepth) + "{{b}}".repeat((maxNodes - 3 * maxDepth) / 2) + "{{/if}}".repeat(maxDepth),
  [`${maxNodes} long comments in ${maxChars} characters`]: pad("{{!-- c --}}".repeat(maxNodes)),
  [`one name with ${maxNodes - 2} arguments`]: `{{name ${"a ".repeat(maxNodes - 2)}}}`,
  [`${Math.floor(maxNodes / 6)} ifs over a sub-expression`]: "{{#if (lookup a b)}}x{{/if}}".repeat(
    Math.floor(maxNodes / 6),
  ),
};

console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} on ${cpus().length} cores`,
);
console.log(
  `limits: template ${maxChars} chars, depth ${maxDepth}, ${maxNodes} nodes; render ${RENDER_LIMITS.maxSteps} steps; ` +
    `schema ${SCHEMA_LIMITS.maxNodes} nodes, ${SCHEMA_LIMITS.maxValidationWork} checks; patterns ${PATTERN_LIMITS.maxStepsPerValidation} steps`,
);
report("scan of a 1 MB template (the largest body), before refusing it", () =>
  scanTemplate("{{#if a}}{{b}}".repeat(75_000)),
);
for (const [label, source] of Object.entries(templates)) {
  report(`publish: analyze ${label}`, () => analyzeTemplate(source));
  const renderer = createRenderer();
  report(`first render: compile ${label}`, (i) =>
    renderer.render({ ...version(source), contentHash: `${label}-${i}` }, { a: 1, b: 2 }),
  );
}

const renderer = createRenderer();
const items = Array.from({ length: 300 }, (_, i) => i);
const cube = version("{{#each a}}{{#each ../a}}{{#each ../../a}}x{{/each}}{{/each}}{{/each}}");
report(`render: nested loops until the ${RENDER_LIMITS.maxSteps}-step budget`, () =>
  renderer.render(cube, { a: items }),
);

const props = {};
for (let i = 0; Object.keys(props).length * 5 + 5 < SCHEMA_LIMITS.maxNodes; i++)
  props[`p${i}`] = { type: "string", maxLength: 100 };
const wideSchema = { type: "object", properties: props };
report(`publish: check a ${Object.keys(props).length}-property schema (near ${SCHEMA_LIMITS.maxNodes} nodes)`, () =>
  checkVariablesSchema(wideSchema),
);
report("first render: compile it", (i) =>
  createRenderer().render({ ...version("{{p0}}", wideSchema), contentHash: `wide-${i}` }, { p0: "x" }),
);

const anyOf = {
  type: "object",
  properties: { rows: { type: "array", items: { anyOf: [{ type: "string" }, { type: "integer" }] } } },
};
const failing = Math.floor(SCHEMA_LIMITS.maxValidationWork / 9) - 2;
report(`render: ${failing} values all failing an anyOf (the check budget)`, () =>
  renderer.render(version("{{rows}}", anyOf), { rows: Array(failing).fill(true) }),
);

let seen = 0;
for (const pattern of ["^(?:a|b)*a(?:a|b){20}$", "^(?:a|b)*a(?:a|b){100}$", "^\\p{L}+$"]) {
  // RE2 builds its DFA as it matches and keeps it: each run gets a pattern it has not seen (an alternative that never
  // matches), as a newly published schema would.
  const fresh = () => `${pattern}|^z${String(seen++).padStart(4, "0")}$`;
  // The longest string the budget allows, of the shape that defeats RE2's DFA.
  const length = Math.floor(
    (PATTERN_LIMITS.maxStepsPerValidation - PATTERN_LIMITS.stepsPerMatch) / compilePattern(fresh()).programSize,
  );
  let input = "";
  for (let i = 0, x = 7; i < length; i++) input += (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0x10000 ? "a" : "b";
  report(`render: new pattern ${pattern} on ${length} characters (step budget)`, () =>
    renderer.render(version("{{s}}", { type: "object", properties: { s: { type: "string", pattern: fresh() } } }), {
      s: input,
    }),
  );
}

// A request body, as the API reads it: its values counted on the raw bytes, then (under the limit) parsed and checked.
const tooMany = Buffer.from(JSON.stringify({ variables: { items: Array(500_000).fill(1) } }));
report(`request body: count the values of ${(tooMany.length / 1e6).toFixed(1)} MB of tiny values, then refuse it`, () =>
  countJsonValues(tooMany),
);
const vars = {};
for (let i = 0; i < MAX_JSON_VALUES / 2 - 5; i++) vars[`v${i}`] = "x";
const atLimit = Buffer.from(JSON.stringify({ ref: "latest", variables: vars }));
report(
  `request body: count, parse and check ${MAX_JSON_VALUES} values (${(atLimit.length / 1e3).toFixed(0)} kB)`,
  () => {
    if (countJsonValues(atLimit) > MAX_JSON_VALUES) throw new Error("over the limit");
    guardJsonBody({ body: JSON.parse(atLimit.toString()) }, {}, () => {});
  },
);

// Evaluators' deterministic checks on the worst answers they accept (src/evals/checks.ts): each runs on the event loop
// of the worker that evaluates, so each must stay under the target whatever the model answered.
const maxOut = EVAL_LIMITS.maxOutputChars;
const nestedDepth = maxOut / 2 - 1;
const nested = `${"[".repeat(nestedDepth)}${"]".repeat(nestedDepth)}`;
const bigArray = JSON.stringify(Array.from({ length: maxOut / 4 }, () => 1)).slice(0, maxOut);
const tenMegabytes = "a".repeat(10 * 1024 * 1024);
const evalCases = [
  [`json: ${maxOut} characters nested ${nestedDepth} deep`, compileCheck("json", {}), nested],
  [
    `json_schema: a 30-deep array schema over ${nestedDepth}-deep nesting`,
    compileCheck("json_schema", {
      schema: Array.from({ length: 30 }).reduce((inner) => ({ type: "array", items: inner }), { type: "array" }),
    }),
    nested,
  ],
  [
    `json_schema: ${bigArray.length} characters of numbers against a patterned schema`,
    compileCheck("json_schema", { schema: { type: "array", items: { type: "string", pattern: "^(a+)+$" } } }),
    bigArray.replace(/1/g, '"aaaaaaaaaaaa"').slice(0, maxOut - 1) + "]",
  ],
  [
    "regex: ^(a+)+$ on as many characters as the step budget allows",
    compileCheck("regex", { pattern: "^(a+)+$" }),
    `${"a".repeat(Math.floor(EVAL_LIMITS.maxPatternSteps / 12))}!`,
  ],
  [
    "regex: the largest pattern at the step budget",
    compileCheck("regex", { pattern: "(a|b|c|d|e|f|g|h|i|j){20}" }),
    "x".repeat(Math.floor(EVAL_LIMITS.maxPatternSteps / 300)),
  ],
  [
    `contains: 100 values on ${maxOut} characters`,
    compileCheck("contains", { values: Array.from({ length: 100 }, (_, i) => `needle-${i}-${"z".repeat(900)}`) }),
    "n".repeat(maxOut),
  ],
  ["length: a 10 MB answer", compileCheck("length", { max: 100 }), tenMegabytes],
  ["json: a 10 MB answer (skipped unread)", compileCheck("json", {}), tenMegabytes],
  [
    "span text: output read from 10 MB of OpenInference messages",
    (text) =>
      spanText({ "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": text }),
    tenMegabytes,
  ],
];
for (const [label, check, answer] of evalCases) report(`evaluator ${label}`, () => check(answer));

const worst = Math.max(...results.map((r) => r.median));
console.log(`worst median ${worst.toFixed(1)} ms (target <= ${TARGET_MS} ms) ${worst <= TARGET_MS ? "ok" : "OVER"}`);
console.log(JSON.stringify({ bench: "limits", targetMs: TARGET_MS, worstMedianMs: +worst.toFixed(2), results }));
