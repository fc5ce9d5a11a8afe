// The shapes test/stacks.test.ts does not produce with the real packages (it checks the ones they do): older GenAI
// indexed attributes, the AI SDK's ai.prompt, OpenInference values that are JSON, and what is never guessed.
import { describe, expect, it } from "vitest";
import { spanText } from "../src/evals/span-text.js";

describe("spanText", () => {
  it("reads the older indexed GenAI attributes, keeping only the assistant's answer", () => {
    expect(
      spanText({
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello.",
      }),
    ).toEqual({ input: "system: Be brief.\nuser: Hi?", output: "Hello.", outputFrom: "gen_ai.completion" });
  });

  it("reads the AI SDK's ai.prompt when it has no ai.prompt.messages, and a generated object", () => {
    expect(
      spanText({ "ai.prompt": JSON.stringify({ system: "S", prompt: "P" }), "ai.response.object": '{"a":1}' }),
    ).toEqual({ input: "system: S\nuser: P", output: '{"a":1}', outputFrom: "ai.response.object" });
  });

  it("takes input.value and output.value as text, and as JSON only when they are a JSON string", () => {
    expect(spanText({ "input.value": "plain question", "output.value": "plain answer" })).toMatchObject({
      input: "plain question",
      output: "plain answer",
    });
    expect(
      spanText({
        "output.value": JSON.stringify("quoted answer"),
        "output.mime_type": "application/json",
        "input.value": '{"model":"x"}',
        "input.mime_type": "application/json",
      }),
    ).toEqual({ input: null, output: "quoted answer", outputFrom: "output.value" });
    // A provider's raw answer is not the model's text: nothing is guessed from it.
    expect(spanText({ "output.value": '{"choices":[]}', "output.mime_type": "application/json" }).output).toBeNull();
  });

  it("prefers the messages to output.value, and joins several answers and content parts", () => {
    expect(
      spanText({
        "output.value": "ignored",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.contents.0.message_content.type": "text",
        "llm.output_messages.0.message.contents.0.message_content.text": "Hel",
        "llm.output_messages.0.message.contents.1.message_content.type": "image",
        "llm.output_messages.0.message.contents.2.message_content.type": "text",
        "llm.output_messages.0.message.contents.2.message_content.text": "lo",
        "llm.output_messages.1.message.role": "tool",
        "llm.output_messages.1.message.content": "not an answer",
      }),
    ).toMatchObject({ output: "Hello", outputFrom: "llm.output_messages" });
    expect(
      spanText({
        "gen_ai.output.messages": JSON.stringify([
          { role: "assistant", parts: [{ type: "text", content: "one" }] },
          { role: "assistant", parts: [{ type: "tool_call", name: "f" }] },
          { role: "assistant", parts: [{ type: "text", content: "two" }] },
        ]),
      }).output,
    ).toBe("one\ntwo");
  });

  it("gives null for what the span does not carry, and ignores malformed values", () => {
    expect(spanText({})).toEqual({ input: null, output: null, outputFrom: null });
    expect(
      spanText({ "gen_ai.output.messages": "{not json", "ai.prompt.messages": "[1,2]", "output.value": 42 }),
    ).toEqual({ input: null, output: null, outputFrom: null });
  });

  it("stops at the first missing index, and at 1,000 messages", () => {
    const many = Object.fromEntries(
      Array.from({ length: 1200 }, (_, i) => [`llm.input_messages.${i}.message.content`, "x"]),
    );
    expect(spanText(many).input!.split("\n")).toHaveLength(1000);
    expect(
      spanText({ "llm.input_messages.0.message.content": "a", "llm.input_messages.2.message.content": "c" }).input,
    ).toBe("a");
  });
});
