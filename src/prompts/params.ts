// Request schemas shared by the routes under /prompts/:name (prompts, labels, render, compare): one definition of
// what a prompt name and a page are, imported by each route file rather than from another route file.
import { z } from "zod";
import { PromptNameSchema } from "@promptreg/client/contract";

export const NameParams = z.object({ name: PromptNameSchema });

export const PageQuery = z.object({
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
