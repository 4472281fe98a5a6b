// Publishes Ruff's F401 for `import NAME` lines whose NAME the file never uses, like the Ruff extension.
const vscode = require("vscode");

const RULE_URL = "https://docs.astral.sh/ruff/rules/unused-import/";

function unusedImports(document) {
  const text = document.getText();
  const diagnostics = [];
  for (let line = 0; line < document.lineCount; line++) {
    const match = /^import ([A-Za-z_]\w*)\s*$/.exec(document.lineAt(line).text);
    if (!match) continue;
    const name = match[1];
    const uses = text.match(new RegExp(`\\b${name}\\b`, "g")) || [];
    if (uses.length > 1) continue;
    const start = match[0].indexOf(name, "import ".length);
    const range = new vscode.Range(line, start, line, start + name.length);
    const diagnostic = new vscode.Diagnostic(range, `\`${name}\` imported but unused`, vscode.DiagnosticSeverity.Warning);
    diagnostic.source = "Ruff";
    diagnostic.code = { value: "F401", target: vscode.Uri.parse(RULE_URL) };
    diagnostic.tags = [vscode.DiagnosticTag.Unnecessary];
    diagnostics.push(diagnostic);
  }
  return diagnostics;
}

function activate(context) {
  const collection = vscode.languages.createDiagnosticCollection("ruff-stub");
  const lint = (document) => {
    if (document.languageId === "python") collection.set(document.uri, unusedImports(document));
  };
  context.subscriptions.push(
    collection,
    vscode.workspace.onDidOpenTextDocument(lint),
    vscode.workspace.onDidChangeTextDocument((event) => lint(event.document)),
    vscode.workspace.onDidCloseTextDocument((document) => collection.delete(document.uri)),
  );
  vscode.workspace.textDocuments.forEach(lint);
}

module.exports = { activate };
