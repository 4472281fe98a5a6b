"""hybrid-lsp: answers editor diagnostics from known fixes first, a local model next, a remote API last."""

__version__ = "0.1.0"
