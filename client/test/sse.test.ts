// The client's reading of server-sent events, against the HTML standard's parsing rules: what a live-update stream
// (or a proxy rewriting its line ends) may send, in chunks cut anywhere.
import { describe, expect, it } from "vitest";
import { SseParser } from "../src/live.js";

/** Every frame of `text`, fed in chunks of `size` characters. */
const framesOf = (text: string, size = text.length) => {
  const parser = new SseParser();
  const frames = [];
  for (let i = 0; i < text.length; i += size) frames.push(...parser.push(text.slice(i, i + size)));
  return frames;
};

describe("SseParser", () => {
  const stream =
    ': subscribed\n\nid: a.1\nevent: label.moved\ndata: {"prompt":"p"}\n\n: heartbeat\n\nevent: reset\ndata: {}\n\n';

  it("reads events, skips comments, and keeps the last id for events without one", () => {
    expect(framesOf(stream)).toEqual([
      { id: "a.1", event: "label.moved", data: '{"prompt":"p"}' },
      { id: "a.1", event: "reset", data: "{}" },
    ]);
  });

  it("gives the same events however the text is cut, and with CRLF or CR line ends", () => {
    const whole = framesOf(stream);
    for (const size of [1, 2, 3, 7, 13]) {
      expect(framesOf(stream, size)).toEqual(whole);
      expect(framesOf(stream.replaceAll("\n", "\r\n"), size)).toEqual(whole);
      expect(framesOf(stream.replaceAll("\n", "\r"), size)).toEqual(whole);
    }
  });

  it("joins data lines with a newline, defaults the event to message, and dispatches nothing without data", () => {
    expect(framesOf("data:one\ndata: two\n\nevent: x\n\nid: 7\n\n")).toEqual([
      { id: undefined, event: "message", data: "one\ntwo" },
    ]);
    expect(framesOf("data\n\n")).toEqual([{ id: undefined, event: "message", data: "" }]);
  });

  it("keeps an id sent without an event as the last event id, as a heartbeat carries the position", () => {
    const parser = new SseParser();
    expect(parser.push(": heartbeat\nid: a.9\n\n")).toEqual([]);
    expect(parser.lastEventId).toBe("a.9");
    parser.push("id: a.10\n");
    expect(parser.lastEventId).toBe("a.9");
  });

  it("ignores an id holding a NUL, and refuses a line longer than a mebibyte", () => {
    expect(framesOf("id: a\u0000b\ndata: x\n\n")).toEqual([{ id: undefined, event: "message", data: "x" }]);
    expect(() => framesOf(`data: ${"x".repeat(1024 * 1024 + 1)}`)).toThrow(RangeError);
  });
});
