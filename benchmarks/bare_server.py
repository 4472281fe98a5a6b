"""The floor: a minimal pygls 2.1 server that answers the same requests as hybrid-lsp, trivially.

codeAction returns one quick fix per context diagnostic (at most three), shaped like hybrid-lsp's
(title, kind, the diagnostic, `data` echoing the uri, version and diagnostic), so the difference
between the two servers is hybrid-lsp's own work, not the size of the answer. resolve returns a
fixed edit, hover a fixed text. Run with `python -m benchmarks.bare_server` (stdio).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare-pygls", "1.0")
diagnostics: dict[str, Any] = {}


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True),
)
async def code_action(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    return [
        types.CodeAction(
            title=f"Fix: {diagnostic.message}", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
            data={"uri": uri, "version": 1, "diagnostic": ls.protocol._converter.unstructure(diagnostic)},
        )
        for diagnostic in params.context.diagnostics[:3]
    ]


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve(ls: LanguageServer, action: types.CodeAction) -> types.CodeAction:
    uri = action.data["uri"] if isinstance(action.data, dict) else ""
    edit = types.TextEdit(types.Range(types.Position(0, 0), types.Position(1, 0)), "")
    action.edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=1), [edit])])
    return action


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, "**bare** hover"))


@server.feature("hybridLsp/diagnostics")
async def forwarded(ls: LanguageServer, params: Any) -> None:
    diagnostics[getattr(params, "uri", "")] = params


if __name__ == "__main__":
    server.start_io()
