// Where a template error is, as 1-based line and column, so an editor can point at it. The renderer reports
// locations inside its messages: " - line:column" (0-based column) for its own checks, "Parse error on line N"
// for Handlebars' parser, which keeps the failing token's position on its lexer.
import Handlebars from "handlebars";
import type { Template, TemplateErrorDetails } from "@promptreg/client/contract";

const CHECK_SUFFIX = / - (\d+):(\d+)$/;
const PARSE_ERROR = /^Parse error on line (\d+):/;
const MESSAGE_PREFIX = /^messages\[(\d+)\]: /;

export function templateErrorLocation(template: Template, message: string): TemplateErrorDetails | undefined {
  let rest = message;
  let messageIndex: number | undefined;
  const prefix = MESSAGE_PREFIX.exec(rest);
  if (prefix) {
    messageIndex = Number(prefix[1]);
    rest = rest.slice(prefix[0].length);
  }
  const where = messageIndex === undefined ? {} : { messageIndex };
  const check = CHECK_SUFFIX.exec(rest);
  if (check) return { line: Number(check[1]), column: Number(check[2]) + 1, ...where };
  const parse = PARSE_ERROR.exec(rest);
  if (!parse) return undefined;
  const source =
    typeof template === "string"
      ? template
      : (() => {
          const item = messageIndex === undefined ? undefined : template[messageIndex];
          return item && "content" in item ? item.content : undefined;
        })();
  return { line: Number(parse[1]), ...parserColumn(source, Number(parse[1])), ...where };
}

/** Parses again to read the failing token's column from the parser's lexer (the message only has the line). */
function parserColumn(source: string | undefined, line: number): { column?: number } {
  if (source === undefined) return {};
  try {
    Handlebars.parse(source);
  } catch {
    const loc = (
      Handlebars as unknown as { Parser?: { lexer?: { yylloc?: { first_line: number; first_column: number } } } }
    ).Parser?.lexer?.yylloc;
    if (loc && loc.first_line === line) return { column: loc.first_column + 1 };
  }
  return {};
}
