-- Drives the hybrid-lsp Neovim plugin in a real, headless Neovim (0.7 and 0.11+).
-- Run by tests/test_editor_neovim.py:  nvim --headless --clean -c "luafile tests/editors/neovim_test.lua"
-- Environment: HYBRID_TEST_PLUGIN (editors/neovim), HYBRID_TEST_FILE (a copy of examples/broken.py),
-- HYBRID_TEST_CMD (JSON list: the server command), HYBRID_TEST_ANSWER (what the loopback model answers).
-- Prints one "ok"/"not ok" line per check and exits non-zero if any check failed.

local has_011 = vim.fn.has("nvim-0.11") == 1
local failures, checks = 0, 0
local TIMEOUT = 15000

local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

local function check(condition, what, detail)
  checks = checks + 1
  if condition then
    out("ok " .. checks .. " - " .. what)
  else
    failures = failures + 1
    out("not ok " .. checks .. " - " .. what .. (detail and ("\n  # " .. tostring(detail):gsub("\n", "\n  # ")) or ""))
  end
  return condition
end

local function finish()
  out(string.format("# nvim %s: %d checks, %d failed", tostring(vim.version().minor), checks, failures))
  if failures > 0 then
    vim.cmd("cquit 1")
  end
  vim.cmd("qall!")
end

local function env(name)
  local value = os.getenv(name)
  assert(value and value ~= "", "missing environment variable " .. name)
  return value
end

-- Messages the plugin shows with vim.notify.
local notes = {}
vim.notify = function(message, level)
  table.insert(notes, message)
  out("# notify: " .. tostring(message))
end

local function request_sync(bufnr, method, params)
  local responses, err = vim.lsp.buf_request_sync(bufnr, method, params, TIMEOUT)
  assert(responses, method .. ": " .. tostring(err))
  for _, response in pairs(responses) do
    if response.err then
      error(method .. " failed: " .. vim.inspect(response.err))
    end
    return response.result
  end
end

local function floats()
  local found = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
      table.insert(found, table.concat(lines, "\n"))
    end
  end
  return found
end

local function close_floats()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      vim.api.nvim_win_close(win, true)
    end
  end
end

-- Wait for a float whose text contains `needle`; returns that text (or the floats seen).
local function wait_float(needle)
  local text
  vim.wait(TIMEOUT, function()
    for _, t in ipairs(floats()) do
      if t:find(needle, 1, true) then
        text = t
        return true
      end
    end
    return false
  end, 20)
  return text, table.concat(floats(), "\n----\n")
end

-- Run a code action's command the way Neovim does (client-side command first, else the server).
local function exec_cmd(client, command, bufnr)
  if has_011 then
    return client:exec_cmd(command, { bufnr = bufnr })
  end
  local fn = client.commands[command.command] or vim.lsp.commands[command.command]
  if fn then
    return fn(command, { bufnr = bufnr, client_id = client.id })
  end
  client.request("workspace/executeCommand", command, nil, bufnr)
end

-- Retry `fn` (which may make synchronous requests, so it cannot run inside vim.wait) until it
-- returns true or `timeout` ms pass.
local function poll(fn, timeout)
  local deadline = vim.loop.hrtime() + (timeout or TIMEOUT) * 1e6
  while true do
    if fn() then
      return true
    end
    if vim.loop.hrtime() > deadline then
      return false
    end
    vim.wait(100)
  end
end

local function execute_sync(bufnr, command, arguments)
  return request_sync(bufnr, "workspace/executeCommand", { command = command, arguments = arguments })
end

local function lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

local function main()
  local plugin = env("HYBRID_TEST_PLUGIN")
  local file = env("HYBRID_TEST_FILE")
  local cmd = vim.fn.json_decode(env("HYBRID_TEST_CMD"))
  local answer = env("HYBRID_TEST_ANSWER")

  vim.opt.runtimepath:append(plugin)
  vim.cmd("helptags " .. vim.fn.fnameescape(plugin .. "/doc")) -- the wrapper gives us a scratch copy
  vim.cmd("filetype on")
  local hybrid = require("hybrid_lsp")
  hybrid.setup({ cmd = cmd, filetypes = { "python" }, settings = { ["local"] = { model = "model-from-init-options" } } })

  -- :help works: the help file is well formed (tags generated into a scratch copy by the wrapper).
  local ok_help = pcall(vim.cmd, "help hybrid_lsp")
  check(ok_help and vim.bo.filetype == "help", ":help hybrid_lsp opens the help file")
  if ok_help then
    vim.cmd("helpclose")
  end

  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  check(vim.bo[bufnr].filetype == "python", "the broken file opens as python")

  local client
  local attached = vim.wait(TIMEOUT, function()
    for _, c in pairs(has_011 and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)) do
      if c.name == "hybrid_lsp" and c.initialized ~= false then
        client = c
        return true
      end
    end
    return false
  end, 20)
  if not check(attached, "the plugin starts hybrid-lsp and attaches it to the python buffer") then
    return
  end
  local caps = client.server_capabilities or client.resolved_capabilities
  check(vim.wait(TIMEOUT, function()
    caps = client.server_capabilities or {}
    return caps.codeActionProvider ~= nil
  end, 20), "the server answered initialize with a code action provider", vim.inspect(caps))

  local original = lines(bufnr)
  check(original[2] == "import os", "line 2 of the file is `import os`", original[2])

  -- Diagnostics from ANOTHER source, in another namespace, like a linter plugin publishes them.
  local ruff = vim.api.nvim_create_namespace("test-ruff")
  local function publish_ruff()
    vim.diagnostic.set(ruff, bufnr, {
      {
        lnum = 1, col = 7, end_lnum = 1, end_col = 9,
        severity = vim.diagnostic.severity.WARN,
        source = "Ruff", code = "F401", message = "`os` imported but unused",
      },
    })
  end
  publish_ruff()

  local line2 = { start = { line = 1, character = 0 }, ["end"] = { line = 1, character = 9 } }
  local function code_action_params()
    -- What Neovim sends hybrid-lsp: only hybrid-lsp's own diagnostics, i.e. none.
    return {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = line2,
      context = { diagnostics = {} },
    }
  end

  local actions
  poll(function()
    actions = request_sync(bufnr, "textDocument/codeAction", code_action_params())
    return actions ~= nil and actions ~= vim.NIL and #actions > 0
  end)
  if not check(type(actions) == "table" and #actions > 0,
      "forwarded diagnostics: a code action appears although the request's context is empty", vim.inspect(actions)) then
    return
  end
  local action = actions[1]
  local echoed = action.diagnostics and action.diagnostics[1] or {}
  check(echoed.source == "Ruff" and echoed.code == "F401" and echoed.message == "`os` imported but unused"
      and echoed.severity == 2
      and echoed.range.start.line == 1 and echoed.range.start.character == 7
      and echoed.range["end"].line == 1 and echoed.range["end"].character == 9,
    "the forwarded diagnostic arrived in LSP form (0-based range, severity 2, source, code, message)", vim.inspect(echoed))
  check(action.title:find("known fix, 0 tokens", 1, true) ~= nil, "the action is the stored known fix", action.title)
  check(action.edit == nil, "codeAction stays cheap: no edit before resolve", vim.inspect(action.edit))

  local resolved = request_sync(bufnr, "codeAction/resolve", action)
  check(resolved and resolved.edit ~= nil, "codeAction/resolve returns the edit", vim.inspect(resolved))
  check(resolved and resolved.command and resolved.command.command == "hybridLsp.accept",
    "the resolved fix carries hybridLsp.accept", vim.inspect(resolved and resolved.command))
  vim.lsp.util.apply_workspace_edit(resolved.edit, client.offset_encoding)
  local after = lines(bufnr)
  check(#after == #original - 1 and after[2] == "import sys" and not vim.tbl_contains(after, "import os"),
    "applying the edit removes the `import os` line", table.concat(after, "\n"))

  local accepted_id = resolved.command.arguments[1]
  exec_cmd(client, resolved.command, bufnr)
  check(vim.wait(TIMEOUT, function() return hybrid.last_interaction() == accepted_id end, 20),
    "running the action's command goes through the plugin, which remembers the interaction", hybrid.last_interaction())
  local stats
  poll(function()
    stats = execute_sync(bufnr, "hybridLsp.stats", nil)
    return stats and stats.outcomes and stats.outcomes.accepted == 1
  end)
  check(stats and stats.outcomes and stats.outcomes.accepted == 1, "the server recorded the fix as accepted", vim.inspect(stats))

  -- Neovim's own code action UI: resolve, apply, command, with the user picking the known fix.
  vim.cmd("silent undo")
  check(lines(bufnr)[2] == "import os", "undo brings `import os` back")
  publish_ruff()
  vim.wait(200)
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local a = item.action or item[2]
      if a and a.title and a.title:find("known fix", 1, true) then
        return on_choice(item)
      end
    end
    out("# vim.ui.select got no known fix: " .. vim.inspect(items))
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 2, 8 })
  vim.lsp.buf.code_action()
  check(vim.wait(TIMEOUT, function() return lines(bufnr)[2] == "import sys" end, 20),
    "vim.lsp.buf.code_action() offers the fix for the forwarded diagnostic and applies it", table.concat(lines(bufnr), "\n"))
  check(vim.wait(TIMEOUT, function()
    local id = hybrid.last_interaction()
    return id ~= nil and id ~= accepted_id
  end, 20), "the fix applied through Neovim's UI is remembered for :HybridReject", hybrid.last_interaction())

  notes = {}
  vim.cmd("HybridReject did not want this")
  check(vim.wait(TIMEOUT, function()
    for _, n in ipairs(notes) do
      if n:find("rejected", 1, true) then return true end
    end
    return false
  end, 20), ":HybridReject rejects the last interaction", vim.inspect(notes))

  vim.cmd("silent undo")
  publish_ruff()
  vim.wait(200)

  -- Hover over the forwarded diagnostic explains it from the knowledge base.
  local solution = "nothing in the file refers to it"
  local hover = request_sync(bufnr, "textDocument/hover",
    { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 1, character = 8 } })
  local hover_text = hover and hover.contents and (hover.contents.value or vim.inspect(hover.contents)) or ""
  check(hover_text:find(solution, 1, true) ~= nil, "textDocument/hover shows the stored solution", hover_text)
  vim.api.nvim_win_set_cursor(0, { 2, 8 })
  vim.lsp.buf.hover()
  local shown, seen = wait_float(solution)
  check(shown ~= nil, "vim.lsp.buf.hover() shows the explanation in a float", seen)
  close_floats()

  -- :HybridAsk on the current line, then on a range; the loopback model's answer is shown.
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  vim.cmd("HybridAsk What does line four do?")
  local float_text, floats_seen = wait_float(answer)
  check(float_text ~= nil, ":HybridAsk shows the model's answer in a float", floats_seen)
  check(float_text and float_text:find("route: local", 1, true) ~= nil
      and float_text:find("model-from-init-options", 1, true) ~= nil,
    "the answer came from the local model named in setup{settings} (init_options)", float_text)
  local ask_id = hybrid.last_interaction()
  close_floats()

  -- Changed settings reach the server through workspace/configuration.
  hybrid.set_settings({ ["local"] = { model = "model-from-configuration" } })
  vim.wait(500)
  vim.cmd("2,3HybridAsk Which of these imports are unused?")
  float_text, floats_seen = wait_float("model-from-configuration")
  check(float_text ~= nil and float_text:find(answer, 1, true) ~= nil,
    "after set_settings the server uses the model answered on workspace/configuration", floats_seen)
  check(hybrid.last_interaction() ~= ask_id, "each answer's interaction is remembered", hybrid.last_interaction())
  close_floats()

  vim.cmd("HybridStats")
  float_text, floats_seen = wait_float("routes:")
  -- The first fix was accepted, then undone by `undo` (the server may notice that and say "undone").
  check(float_text ~= nil and float_text:find("known 2", 1, true) ~= nil and float_text:find("local 2", 1, true) ~= nil
      and float_text:find("rejected 1", 1, true) ~= nil
      and (float_text:find("accepted 1", 1, true) ~= nil or float_text:find("undone 1", 1, true) ~= nil),
    ":HybridStats shows routes and outcomes in a float", floats_seen)
  close_floats()

  vim.lsp.stop_client(client.id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client.id) == nil end, 50)
end

local ok, err = xpcall(main, debug.traceback)
check(ok, "the script ran to its end", err)
finish()
