// Invalidation topics: one typed form for publishers and subscribers, one text form on the wire (NOTIFY).
import { describe, expect, it } from "vitest";
import { formatTopic, parseTopic, type InvalidationBus, type Topic } from "../src/db/invalidation.js";

const PROJECT = "0b6a4c8e-1f2d-4e5a-9b7c-3d2e1f0a9b8c";

describe("invalidation topics", () => {
  it("reads back every kind it writes, names with slashes, dots and digits included", () => {
    const topics: Topic[] = [
      { kind: "all" },
      { kind: "prompt", projectId: PROJECT, name: "support/triage.v2/élan" },
      { kind: "prompt", projectId: PROJECT, name: "a" },
      { kind: "key", keyId: "5f0e2a7c-0c1d-4b8e-8f3a-2b1c0d9e8f7a" },
      { kind: "project", projectId: PROJECT },
    ];
    for (const topic of topics) expect(parseTopic(formatTopic(topic))).toEqual(topic);
  });

  it("keeps the text form older instances send and read", () => {
    expect(formatTopic({ kind: "all" })).toBe("*");
    expect(formatTopic({ kind: "prompt", projectId: PROJECT, name: "support/triage" })).toBe(
      `prompt:${PROJECT}:support/triage`,
    );
    expect(formatTopic({ kind: "key", keyId: "k1" })).toBe("key:k1");
    expect(formatTopic({ kind: "project", projectId: PROJECT })).toBe(`project:${PROJECT}`);
  });

  it("reads nothing from a payload that is not a topic", () => {
    for (const text of [
      "",
      "prompt",
      "prompt:",
      `prompt:${PROJECT}`,
      `prompt:${PROJECT}:`,
      "prompt::name",
      "key:",
      "labels:x",
      "PROMPT:a:b",
      "**",
    ])
      expect(parseTopic(text), text).toBeUndefined();
  });

  // Checked by `npm run typecheck` (part of `npm test`): an @ts-expect-error that meets no error fails it.
  it("makes a misspelt or incomplete topic a type error", () => {
    const published: Topic[] = [];
    const bus: Pick<InvalidationBus, "publish"> = { publish: async (topic) => void published.push(topic) };
    // @ts-expect-error a misspelt kind
    void bus.publish({ kind: "promt", projectId: PROJECT, name: "a" });
    // @ts-expect-error a prompt topic names its project
    void bus.publish({ kind: "prompt", name: "a" });
    // @ts-expect-error topics are objects, not the text form
    void bus.publish(`prompt:${PROJECT}:a`);
    expect(published).toHaveLength(3);
  });
});
