// What the gate tests' fake model answers (test/helpers/fake-model.ts), known per (version, item), and the items it
// answers: 1.0.0 is "Answer {{q}}", 1.1.0 adds "briefly", 1.2.0 "kindly". 1.1.0 fails items 0-11 that 1.0.0 passes
// and passes 12-14 that 1.0.0 fails (on 40 items, significantly worse: McNemar p = 0.035); 1.2.0 passes 12-14 too
// and nothing else changes (better on three items: no significant difference). Item 15 fails on every version.

/** The answer to the prompt text of one item: "BAD …" where that version fails it (the `no-bad` check). */
export function gateAnswer(prompt: string): string {
  const i = Number(/case (\d+)/.exec(prompt)?.[1]);
  const version = prompt.includes("briefly") ? "1.1.0" : prompt.includes("kindly") ? "1.2.0" : "1.0.0";
  const fails = i === 15 || (version === "1.1.0" ? i < 12 : version === "1.0.0" && i >= 12 && i < 15);
  return fails ? `BAD answer to case ${i}` : `GOOD answer to case ${i}`;
}

/** The dataset's items `case-00`… with variables `{q: "case i"}`. */
export function gateItems(count: number): { id: string; variables: Record<string, unknown> }[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `case-${String(i).padStart(2, "0")}`,
    variables: { q: `case ${i}` },
  }));
}
