// Compiles a TypeScript snippet the console shows (a prompt's "Use it" block) against the client library's sources,
// as an application on strict settings would, and says what type each top-level `const` it declares has. What a
// user pastes must compile, and must give them the type the README promises (a `string` from renderText, not the
// `string | ChatMessage[]` of render).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(import.meta.dirname, "../..");

export interface SnippetCheck {
  /** Diagnostics of the snippet itself, `line:column message`; empty when it compiles. */
  errors: string[];
  /** Each top-level `const` the snippet declares, and its type as the checker prints it. */
  types: Record<string, string>;
}

export function checkSnippet(code: string): SnippetCheck {
  // Inside the repository, so that the client's own dependencies (zod, @opentelemetry/api...) resolve.
  const cache = path.join(root, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(path.join(cache, "snippet-"));
  try {
    const file = path.join(dir, "snippet.ts");
    writeFileSync(file, `${code}\nexport {};\n`);
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2023.d.ts"],
      types: ["node"],
      typeRoots: [path.join(root, "node_modules", "@types")],
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: true,
      noEmit: true,
      paths: {
        "@promptreg/client": [path.join(root, "client", "src", "index.ts")],
        "@promptreg/client/*": [path.join(root, "client", "src", "*.ts")],
      },
    });
    const source = program.getSourceFile(file)!;
    const errors = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const { line, character } = source.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${line + 1}:${character + 1} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    const checker = program.getTypeChecker();
    const types: Record<string, string> = {};
    for (const statement of source.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const declaration of statement.declarationList.declarations)
        if (ts.isIdentifier(declaration.name))
          types[declaration.name.text] = checker.typeToString(checker.getTypeAtLocation(declaration.name));
    }
    return { errors, types };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
