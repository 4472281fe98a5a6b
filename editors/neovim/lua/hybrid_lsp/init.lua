-- hybrid-lsp for Neovim 0.7+: starts the server beside your other language servers, forwards every
-- diagnostic of a buffer to it (Neovim puts only a server's own diagnostics in code action
-- requests), and adds :HybridAsk, :HybridStats and :HybridReject. See :help hybrid_lsp.

local M = {}

local NOTIFICATION = "hybridLsp/diagnostics"
local has_011 = vim.fn.has("nvim-0.11") == 1

local defaults = {
  name = "hybrid_lsp",
  cmd = { "hybrid-lsp" },
  filetypes = { "python", "typescript", "typescriptreact", "javascript", "javascriptreact", "rust", "go", "sh" },
  root_markers = { ".git", "pyproject.toml", "package.json", "Cargo.toml", "go.mod" },
  settings = {},
  on_attach = nil,
  capabilities = nil,
  float = { border = "rounded", max_width = 100, max_height = 30 },
}

M.config = vim.deepcopy(defaults)

-- The last interaction id seen (from a resolved fix's command, an applied fix, or an answer);
-- :HybridReject rejects it.
local last_interaction = nil
local group = nil
local clients_by_root = {} -- Neovim < 0.11: one client per root directory

--- The interaction :HybridReject would reject, or nil.
function M.last_interaction()
  return last_interaction
end

local function remember(id)
  if type(id) == "string" and id ~= "" then
    last_interaction = id
  end
end

local function say(message, level)
  vim.notify("hybrid-lsp: " .. message, level or vim.log.levels.INFO)
end

-- Client methods became colon methods in 0.11 (the dot form is deprecated there).
local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- hybrid-lsp clients attached to a buffer (all running ones when bufnr is nil).
local function clients(bufnr)
  local name = M.config.name
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr, name = name })
  end
  local found = {}
  local all = bufnr and vim.lsp.buf_get_clients(bufnr) or vim.lsp.get_active_clients()
  for _, client in pairs(all) do
    if client.name == name then
      table.insert(found, client)
    end
  end
  return found
end

local function settings_value(settings)
  if settings == nil or vim.tbl_isempty(settings) then
    return vim.empty_dict() -- an empty Lua table would go out as a JSON array
  end
  return settings
end

-- Character index of byte column `col` in `line`, counted in the client's position encoding.
local function character(line, col, encoding)
  col = math.max(0, math.min(col or 0, #line))
  if encoding == "utf-8" then
    return col
  end
  if has_011 then
    return vim.str_utfindex(line, encoding == "utf-32" and "utf-32" or "utf-16", col, false)
  end
  local ok, utf32, utf16 = pcall(vim.str_utfindex, line, col)
  if not ok then -- col inside a multibyte character
    return col
  end
  return encoding == "utf-32" and utf32 or utf16
end

--- One vim.diagnostic item in LSP form (0-based lines, characters in `encoding`, severity 1-4).
function M.to_lsp_diagnostic(bufnr, item, encoding)
  local function position(lnum, col)
    local line = vim.api.nvim_buf_get_lines(bufnr, lnum, lnum + 1, false)[1] or ""
    return { line = lnum, character = character(line, col, encoding) }
  end
  local original = (item.user_data and item.user_data.lsp) or {}
  local code = item.code
  if code == nil then
    code = original.code
  end
  if code ~= nil and type(code) ~= "number" then
    code = tostring(code)
  end
  local end_lnum = item.end_lnum or item.lnum
  local end_col = item.end_col or item.col
  if end_lnum < item.lnum or (end_lnum == item.lnum and end_col < item.col) then
    end_lnum, end_col = item.lnum, item.col
  end
  return {
    range = { start = position(item.lnum, item.col), ["end"] = position(end_lnum, end_col) },
    severity = math.max(1, math.min(4, tonumber(item.severity) or 1)),
    source = item.source or original.source,
    code = code,
    message = item.message,
    codeDescription = original.codeDescription,
    tags = original.tags,
  }
end

--- Send every diagnostic of the buffer, from every namespace, to the hybrid-lsp clients attached to it.
function M.forward(bufnr)
  if bufnr == 0 or bufnr == nil then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local attached = clients(bufnr)
  if #attached == 0 then
    return
  end
  local items = vim.diagnostic.get(bufnr)
  local uri = vim.uri_from_bufnr(bufnr)
  local version = vim.lsp.util.buf_versions[bufnr]
  for _, client in ipairs(attached) do
    local list = {}
    for _, item in ipairs(items) do
      if type(item.message) == "string" and item.lnum then
        table.insert(list, M.to_lsp_diagnostic(bufnr, item, client.offset_encoding))
      end
    end
    notify(client, NOTIFICATION, { uri = uri, version = version, diagnostics = list })
  end
end

local pending = {}

-- DiagnosticChanged fires once per namespace; send one notification per buffer and event-loop turn.
local function forward_soon(bufnr)
  if pending[bufnr] then
    return
  end
  pending[bufnr] = true
  vim.schedule(function()
    pending[bufnr] = nil
    M.forward(bufnr)
  end)
end

local function float(lines)
  local opts = vim.tbl_extend("force", { focus_id = "hybrid_lsp" }, M.config.float)
  return vim.lsp.util.open_floating_preview(lines, "markdown", opts)
end

local function split_lines(text)
  return vim.split(text or "", "\n", { plain = true })
end

local function shown(value)
  if value == nil or value == vim.NIL then
    return "n/a"
  end
  return tostring(value)
end

--- Run a server command through a hybrid-lsp client; `done(result)` on success.
local function execute(client, command, arguments, bufnr, done)
  request(client, "workspace/executeCommand", { command = command, arguments = arguments }, function(err, result)
    if err then
      say(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if type(result) == "table" then
      remember(result.interaction)
    end
    if done then
      done(result)
    end
  end, bufnr)
end

local function pick_client(bufnr)
  local attached = clients(bufnr)
  if #attached > 0 then
    return attached[1], true
  end
  local any = clients(nil)
  return any[1], false
end

--- Ask the server a question about lines line1..line2 (1-based) of the buffer; shows the answer in a float.
function M.ask(question, line1, line2, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client, attached = pick_client(bufnr)
  if not client then
    say("no hybrid-lsp server is running (open a file of one of its filetypes first)", vim.log.levels.WARN)
    return
  end
  local arguments = { question }
  if attached then
    local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
    arguments = {
      question,
      vim.uri_from_bufnr(bufnr),
      {
        start = { line = line1 - 1, character = 0 },
        ["end"] = { line = line2 - 1, character = character(last, #last, client.offset_encoding) },
      },
    }
  end
  execute(client, "hybridLsp.ask", arguments, bufnr, function(result)
    local lines = split_lines(result.answer)
    local tokens = type(result.tokens) == "table" and result.tokens or {}
    local model = (result.model ~= nil and result.model ~= vim.NIL and result.model ~= "") and (" · " .. result.model) or ""
    vim.list_extend(lines, {
      "",
      "---",
      string.format("route: %s%s · %s prompt + %s completion tokens · :HybridReject if unhelpful",
        shown(result.route), model, shown(tokens.prompt), shown(tokens.completion)),
    })
    float(lines)
  end)
end

--- Show the server's statistics in a float.
function M.stats(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = pick_client(bufnr)
  if not client then
    say("no hybrid-lsp server is running", vim.log.levels.WARN)
    return
  end
  execute(client, "hybridLsp.stats", nil, bufnr, function(s)
    local routes = type(s.routes) == "table" and s.routes or {}
    local tokens = type(s.tokens) == "table" and s.tokens or {}
    local outcomes = {}
    for name, count in pairs(type(s.outcomes) == "table" and s.outcomes or {}) do
      table.insert(outcomes, name .. " " .. count)
    end
    table.sort(outcomes)
    float({
      "# hybrid-lsp",
      "",
      string.format("interactions: %s (fixes %s, asks %s)", shown(s.interactions), shown(s.fixes), shown(s.asks)),
      string.format("routes: known %s · local %s · remote %s", shown(routes.known), shown(routes["local"]), shown(routes.remote)),
      string.format("tokens: local %s · remote %s", shown(tokens["local"]), shown(tokens.remote)),
      string.format("share without remote: %s", shown(s.share_without_remote)),
      string.format("accept rate: %s", shown(s.accept_rate)),
      "outcomes: " .. (#outcomes > 0 and table.concat(outcomes, " · ") or "none"),
    })
  end)
end

--- Reject the last interaction seen, with an optional reason.
function M.reject(reason, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not last_interaction then
    say("nothing to reject yet: apply a fix or ask a question first", vim.log.levels.WARN)
    return
  end
  local client = pick_client(bufnr)
  if not client then
    say("no hybrid-lsp server is running", vim.log.levels.WARN)
    return
  end
  local arguments = { last_interaction }
  if reason and reason ~= "" then
    table.insert(arguments, reason)
  end
  execute(client, "hybridLsp.reject", arguments, bufnr, function(result)
    say("interaction " .. shown(result.interaction) .. " " .. shown(result.outcome))
  end)
end

--- Replace the server settings at run time (answered on workspace/configuration from now on).
function M.set_settings(settings)
  M.config.settings = settings or {}
  local section = { hybridLsp = settings_value(M.config.settings) }
  for _, client in ipairs(clients(nil)) do
    client.config.settings = section
    if client.settings ~= nil then
      client.settings = section
    end
    notify(client, "workspace/didChangeConfiguration", { settings = section })
  end
end

-- Commands carried by hybrid-lsp's code actions run here first, so their interaction id is
-- remembered, then go to the server as usual.
local function remembering(command, ctx)
  local arguments = command.arguments or {}
  if command.command ~= "hybridLsp.applyFix" then
    remember(arguments[1])
  end
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if client then
    execute(client, command.command, command.arguments, ctx.bufnr)
  end
end

local function on_attach(client, bufnr)
  M.forward(bufnr)
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
end

local function client_config(root_dir)
  local settings = settings_value(M.config.settings)
  return {
    name = M.config.name,
    cmd = M.config.cmd,
    root_dir = root_dir,
    init_options = { hybridLsp = settings },
    settings = { hybridLsp = settings },
    capabilities = M.config.capabilities,
    commands = {
      ["hybridLsp.accept"] = remembering,
      ["hybridLsp.explain"] = remembering,
      ["hybridLsp.applyFix"] = remembering,
    },
    on_attach = on_attach,
  }
end

local function find_root(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = path ~= "" and vim.fn.fnamemodify(path, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.finddir(marker, dir .. ";")
    if found == "" then
      found = vim.fn.findfile(marker, dir .. ";")
    end
    if found ~= "" then
      local full = vim.fn.fnamemodify(found, ":p"):gsub("/$", "")
      return vim.fn.fnamemodify(full, ":h")
    end
  end
  return dir
end

-- Neovim < 0.11: start one client per root directory and attach each matching buffer to it.
local function attach(bufnr)
  if vim.bo[bufnr].buftype ~= "" or not vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
    return
  end
  local root = find_root(bufnr)
  local id = clients_by_root[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client(client_config(root))
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
end

local function user_commands()
  vim.api.nvim_create_user_command("HybridAsk", function(opts)
    M.ask(opts.args, opts.line1, opts.line2)
  end, { nargs = "+", range = true, desc = "hybrid-lsp: ask about the selection or the current line" })
  vim.api.nvim_create_user_command("HybridStats", function()
    M.stats()
  end, { nargs = 0, desc = "hybrid-lsp: show statistics" })
  vim.api.nvim_create_user_command("HybridReject", function(opts)
    M.reject(opts.args)
  end, { nargs = "?", desc = "hybrid-lsp: reject the last fix or answer" })
end

--- setup{ cmd = {...}, filetypes = {...}, settings = {...}, root_markers = {...}, on_attach = fn, capabilities = {...} }
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  -- Lists replace the defaults rather than merging index by index.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts and opts[key] then
      M.config[key] = opts[key]
    end
  end
  if opts and opts.settings then
    M.config.settings = opts.settings
  end

  group = vim.api.nvim_create_augroup("hybrid_lsp", { clear = true })
  vim.api.nvim_create_autocmd("DiagnosticChanged", {
    group = group,
    callback = function(args)
      forward_soon(args.buf)
    end,
  })
  user_commands()

  if has_011 then
    local config = client_config(nil)
    config.root_dir = nil
    config.root_markers = M.config.root_markers
    config.filetypes = M.config.filetypes
    vim.lsp.config(M.config.name, config)
    vim.lsp.enable(M.config.name)
    return
  end

  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      attach(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach(bufnr)
    end
  end
end

return M
