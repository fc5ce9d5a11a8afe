// The README's TypeScript is what users copy. Each ```ts block must compile, with strict settings, as a module of an
// application that depends on `@promptreg/client` as it is shipped: its emitted declarations reached through its
// package.json `exports`, never its sources. A value a block uses without making it (an OpenAI client, the user's
// question) is declared in the block itself (`declare const question: string;`), so what the reader sees is all
// there is.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..");

interface Block {
  /** README line of the block's first line of code. */
  line: number;
  code: string;
}

function extractBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,}|~{3,})\s*(\S*)/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((line, j) => j > i && line.startsWith(fence[1]!));
    if (end === -1) throw new Error(`README.md:${i + 1}: unclosed code fence`);
    if (fence[2] === "ts" || fence[2] === "typescript")
      blocks.push({ line: i + 2, code: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return blocks;
}

const blocks = extractBlocks(readFileSync(path.join(root, "README.md"), "utf8"));
const fileOf = (block: Block) => `readme-line-${block.line}.ts`;

// What a careful application would set; `exactOptionalPropertyTypes` and `noUncheckedIndexedAccess` go beyond `strict`.
const APP_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2023.d.ts"],
  types: ["node"],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
  // So that our declarations are checked too (only those: see `ours` below).
  skipLibCheck: false,
  noEmit: true,
};

/** A checker that let everything through (a module resolved to `any`, a lax option) would pass every block. */
const BROKEN = `import { createClient } from "@promptreg/client";\nconst wrong: number = createClient;\nexport {};\n`;

let dir: string;
let diagnostics: Map<string, string[]>;
let packageDir: string;
let resolvedFiles: string[];

/** `README.md:line:column` for a block (given the README line of its first line), else the file's own position. */
function format(diagnostic: ts.Diagnostic, blockLine?: number): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
  if (!diagnostic.file || diagnostic.start === undefined) return `TS${diagnostic.code}: ${message}`;
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  const where = blockLine === undefined ? `${diagnostic.file.fileName}:${line + 1}` : `README.md:${blockLine + line}`;
  return `${where}:${character + 1} TS${diagnostic.code}: ${message}`;
}

beforeAll(() => {
  // Inside the repository so that the package's own dependencies (zod, @opentelemetry/api...) and `openai` resolve
  // from its node_modules, as they would from an application's.
  const cache = path.join(root, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  dir = mkdtempSync(path.join(cache, "readme-"));

  // "Install" the package: its package.json, and the declarations `npm run build -w @promptreg/client` emits.
  packageDir = path.join(dir, "node_modules", "@promptreg", "client");
  mkdirSync(packageDir, { recursive: true });
  copyFileSync(path.join(root, "client", "package.json"), path.join(packageDir, "package.json"));
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(root, "client", "tsconfig.json"),
    // Not composite: its build info would land in client/dist and tell `tsc -b` that the real build is up to date.
    {
      outDir: path.join(packageDir, "dist"),
      emitDeclarationOnly: true,
      sourceMap: false,
      declarationMap: false,
      composite: false,
      incremental: false,
    },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(format(d));
      },
    },
  )!;
  const build = ts.createProgram(config.fileNames, config.options);
  const emitted = build.emit();
  // Type errors in the sources are `npm run typecheck`'s to report; checking them all here would take seconds.
  const buildErrors = [
    ...build.getOptionsDiagnostics(),
    ...build.getSyntacticDiagnostics(),
    ...emitted.diagnostics,
  ].map((d) => format(d));
  if (buildErrors.length > 0) throw new Error(`the client package does not build:\n${buildErrors.join("\n")}`);

  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "readme-app", private: true, type: "module" }));
  for (const block of blocks) writeFileSync(path.join(dir, fileOf(block)), `${block.code}\n`);
  writeFileSync(path.join(dir, "broken.ts"), BROKEN);

  const files = [...blocks.map(fileOf), "broken.ts"].map((file) => path.join(dir, file));
  const program = ts.createProgram(files, APP_OPTIONS);
  resolvedFiles = program.getSourceFiles().map((f) => f.fileName);
  diagnostics = new Map(files.map((file) => [file, [] as string[]]));
  const byBlock = new Map(blocks.map((block) => [path.join(dir, fileOf(block)), block.line]));
  // The blocks and the installed package, not the dependencies' declarations: those are not ours to fix, and
  // checking them all (openai's are large) takes seconds.
  const ours = program.getSourceFiles().filter((file) => file.fileName.startsWith(dir + path.sep));
  const found = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...ours.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  for (const diagnostic of found) {
    const file = diagnostic.file?.fileName;
    const line = file === undefined ? undefined : byBlock.get(file);
    // A diagnostic outside the blocks (in our declarations, or global) fails every block.
    const owners = file !== undefined && diagnostics.has(file) ? [file] : files;
    for (const owner of owners) diagnostics.get(owner)!.push(format(diagnostic, line));
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("README TypeScript", () => {
  it("has blocks to check, compiled against the built package", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(resolvedFiles).toContain(path.join(packageDir, "dist", "index.d.ts"));
    expect(resolvedFiles.some((file) => file.startsWith(path.join(root, "client", "src")))).toBe(false);
    expect(diagnostics.get(path.join(dir, "broken.ts"))).toEqual([
      expect.stringMatching(/TS2322: Type .* is not assignable to type 'number'/),
    ]);
  });

  for (const block of blocks) {
    const first = block.code.split("\n").find((line) => line.trim() !== "" && !line.startsWith("//")) ?? "";
    it(`README.md:${block.line} compiles (${first.trim().slice(0, 60)})`, () => {
      expect(diagnostics.get(path.join(dir, fileOf(block)))).toEqual([]);
    });
  }
});
