// What a dataset item may be, checked the same way whether it came in a JSON body, a line of a JSONL file or a row
// of a CSV file; and the limits that keep a dataset a size one server can read, write and export in one go.
import { randomBytes } from "node:crypto";
import { DATASET_ITEM_ID_PATTERN, JsonObjectSchema, VariableNameSchema } from "@promptreg/client/contract";
import { z } from "zod";
import { storableProblems } from "../http/input-guard.js";
import type { Issue } from "../http/validate.js";

export const DATASET_LIMITS = {
  /** Items in one version of a dataset. */
  maxItems: 100_000,
  /** One item, as JSON (variables, expected and metadata): room for a long document in a variable. */
  maxItemBytes: 256 * 1024,
  /** Variables of one item (top-level names). */
  maxVariables: 1_000,
  /** Items in one POST of items. */
  maxItemsPerRequest: 1_000,
  /**
   * An imported file. It is read whole before anything is written (so that nothing is stored from a file with an
   * error, without holding a transaction open while a client sends): this bounds the memory an import holds.
   */
  maxImportBytes: 32 * 1024 * 1024,
  /** Problems listed in a refusal; the reading stops there. */
  maxIssues: 20,
};

export const ItemIdSchema = z
  .string()
  .regex(
    DATASET_ITEM_ID_PATTERN,
    "must be 1-128 letters, digits, '_', '.', ':', '@' or '-', starting with a letter or digit",
  );

export const ItemInputSchema = z.strictObject({
  id: ItemIdSchema.optional(),
  variables: z.record(VariableNameSchema, z.unknown()).default({}),
  /** null or absent: no expected output. */
  expected: z.unknown().optional(),
  metadata: JsonObjectSchema.default({}),
});
export type ItemInput = z.infer<typeof ItemInputSchema>;

/** An item ready to store: its id decided, and its JSON texts. */
export interface CheckedItem {
  id: string;
  variables: Record<string, unknown>;
  expected: unknown;
  metadata: Record<string, unknown>;
}

/**
 * Checks one item: its shape, what the database can store, and its size. `path` prefixes every issue's path (for a
 * body: `body.items.3`; for a file: `body.line.7345`).
 */
export function checkItem(value: unknown, path: string): { item: CheckedItem } | { issues: Issue[] } {
  const parsed = ItemInputSchema.safeParse(value);
  if (!parsed.success)
    return {
      issues: parsed.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join("."), message: i.message })),
    };
  const unstorable = storableProblems(parsed.data);
  if (unstorable.length)
    return { issues: unstorable.map((i) => ({ path: i.path.replace(/^body/, path), message: i.message })) };
  const { id, variables, expected, metadata } = parsed.data;
  const names = Object.keys(variables).length;
  if (names > DATASET_LIMITS.maxVariables)
    return {
      issues: [
        {
          path: `${path}.variables`,
          message: `${names} variables; an item has at most ${DATASET_LIMITS.maxVariables}`,
        },
      ],
    };
  const item = { id: id ?? "", variables, expected: expected ?? null, metadata };
  const bytes = Buffer.byteLength(JSON.stringify(item));
  if (bytes > DATASET_LIMITS.maxItemBytes)
    return {
      issues: [{ path, message: `the item is ${bytes} bytes as JSON; at most ${DATASET_LIMITS.maxItemBytes}` }],
    };
  return { item };
}

/**
 * Ids for new items, in the order asked: a UUIDv7 layout (RFC 9562: milliseconds, then a counter that keeps ids made
 * in the same millisecond in order, then random bits), so that listing by id lists items in the order they came.
 */
export function createItemIds(now: () => number = Date.now) {
  let lastMs = 0;
  let counter = 0;
  return (): string => {
    let ms = now();
    if (ms <= lastMs) {
      ms = lastMs;
      counter++;
      // 12 bits of counter: past them, borrow the next millisecond rather than go out of order.
      if (counter > 0xfff) {
        ms = ++lastMs;
        counter = 0;
      }
    } else counter = 0;
    lastMs = ms;
    const bytes = randomBytes(16);
    bytes.writeUIntBE(ms, 0, 6);
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    const hex = bytes.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}
