" hybrid-lsp in a real Vim 9 with ALE (Debian's vim and vim-ale), in Ex batch mode.
" Run by tests/test_editor_vim.py:  vim -Nu NONE -i NONE -es -S tests/editors/vim_test.vim
" Environment: HYBRID_TEST_VIM_DIR (editors/vim), HYBRID_TEST_ALE_DIR (ALE's runtime directory),
" HYBRID_TEST_FILE (a copy of examples/broken.py), HYBRID_TEST_PYTHON (runs `-m hybrid_lsp serve`),
" HYBRID_TEST_RUFF (the ruff binary), HYBRID_TEST_ANSWER, HYBRID_TEST_LOG (where results go:
" Vim in -es mode has no terminal to print to).
" Writes one "ok"/"not ok" line per check and exits non-zero if any check failed.

let s:log = $HYBRID_TEST_LOG
let s:checks = 0
let s:failures = 0

function! s:Out(line) abort
    call writefile(split(a:line, "\n"), s:log, 'a')
endfunction

function! s:Check(condition, what, ...) abort
    let s:checks += 1

    if a:condition
        call s:Out('ok ' . s:checks . ' - ' . a:what)
    else
        let s:failures += 1
        call s:Out('not ok ' . s:checks . ' - ' . a:what . (a:0 ? "\n  # " . substitute(string(a:1), "\n", "\n  # ", 'g') : ''))
    endif

    return a:condition
endfunction

" Serve jobs, channels and timers until `condition` (an expression string) holds or `ms` pass.
function! s:Wait(condition, ms) abort
    let l:start = reltime()

    while !eval(a:condition)
        if reltimefloat(reltime(l:start)) * 1000 > a:ms
            return 0
        endif

        sleep 50m
    endwhile

    return 1
endfunction

function! s:Preview() abort
    for l:win in range(1, winnr('$'))
        if getwinvar(l:win, '&previewwindow')
            return join(getbufline(winbufnr(l:win), 1, '$'), "\n")
        endif
    endfor

    return ''
endfunction

function! s:ClosePreview() abort
    pclose
endfunction

" --- The configuration editors/vim/README.md gives ------------------------------------------
let &runtimepath = $HYBRID_TEST_ALE_DIR . ',' . &runtimepath . ',' . $HYBRID_TEST_VIM_DIR
filetype plugin on
runtime plugin/ale.vim

" ALE 3.3 (Debian 12) runs ruff with `--format text`, which ruff 0.1+ refuses: the README's override.
function! RuffJsonHandle(buffer, lines) abort
    let l:output = []

    for l:item in json_decode(join(a:lines, ''))
        call add(l:output, {
        \   'lnum': l:item.location.row,
        \   'col': l:item.location.column,
        \   'end_lnum': l:item.end_location.row,
        \   'end_col': l:item.end_location.column - 1,
        \   'code': l:item.code,
        \   'text': l:item.message,
        \   'type': l:item.code =~# '^E9\|^F' ? 'E' : 'W',
        \})
    endfor

    return l:output
endfunction

call ale#linter#GetAll(['python'])
call ale#linter#Define('python', {
\   'name': 'ruff',
\   'executable': {buffer -> $HYBRID_TEST_RUFF},
\   'command': '%e check --output-format json --no-cache --exit-zero --stdin-filename %s -',
\   'callback': 'RuffJsonHandle',
\})

let g:ale_linters = {'python': ['ruff', 'hybrid_lsp']}
let g:ale_hover_to_preview = 1
let g:hybrid_lsp_executable = $HYBRID_TEST_PYTHON
let g:hybrid_lsp_command = '%e -m hybrid_lsp serve'
let g:hybrid_lsp_settings = {'local': {'model': 'vim-init-options-model'}}
runtime plugin/hybrid_lsp.vim
" -------------------------------------------------------------------------------------------

function! s:Menu(data, items) abort
    let s:menu = [a:data, a:items]
endfunction

function! s:Main() abort
    execute 'edit ' . fnameescape($HYBRID_TEST_FILE)
    let l:buffer = bufnr('')
    call s:Check(&filetype is# 'python', 'the broken file opens as python')
    call s:Check(getline(2) is# 'import os', 'line 2 is `import os`', getline(2))
    ALELint

    let l:f401 = 'len(filter(copy(ale#engine#GetLoclist(' . l:buffer . ')), {_, i -> get(i, "code", "") is# "F401"})) > 0'
    if !s:Check(s:Wait(l:f401, 20000), 'ALE runs ruff and shows F401 on `import os`', ale#engine#GetLoclist(l:buffer))
        return
    endif

    " Hover first: it reads only what was forwarded, so it proves hybridLsp/diagnostics arrived.
    let l:solution = 'nothing in the file refers to it'
    call cursor(2, 8)
    let l:hovered = 0
    let l:start = reltime()
    while !l:hovered && reltimefloat(reltime(l:start)) < 15
        call ale#hover#Show(l:buffer, 2, 8, {})
        let l:hovered = s:Wait('stridx(s:Preview(), "' . l:solution . '") >= 0', 1000)
    endwhile
    call s:Check(l:hovered, 'ALEHover over the forwarded ruff diagnostic shows the stored solution', s:Preview())
    call s:ClosePreview()

    " Code actions: ALE sends an empty context for a cursor on a word; the forwarded list is used.
    let s:menu = v:null
    call cursor(2, 8)
    call ale#codefix#Execute(0, function('s:Menu'))
    call s:Wait('s:menu isnot v:null', 15000)
    let l:items = s:menu is v:null ? [] : map(copy(s:menu[1]), 'v:val[1]')
    " ALE may also put the diagnostic under the cursor in the context, without its source: the
    " server then offers that one too. The forwarded one is the one carrying `source`.
    let l:known = filter(copy(l:items), {_, a -> stridx(a.title, 'known fix, 0 tokens') >= 0
    \   && get(a.diagnostics[0], 'source', '') is# 'ruff'})
    if !s:Check(len(l:known) == 1, 'ALE gets the known fix for the forwarded diagnostic', l:items)
        return
    endif
    let l:action = l:known[0]
    call s:Check(get(l:action.diagnostics[0], 'source', '') is# 'ruff' && l:action.diagnostics[0].code is# 'F401'
    \   && l:action.diagnostics[0].range ==# {'start': {'line': 1, 'character': 7}, 'end': {'line': 1, 'character': 9}},
    \   'the forwarded diagnostic arrived in LSP form (source, code, 0-based range)', l:action.diagnostics)
    call s:Check(has_key(l:action, 'edit') && !has_key(l:action, 'command'),
    \   'ALE cannot resolve edits nor apply server edits, so the stored fix comes as a plain edit', l:action)

    " ALE's own apply path: it applies the edit; the server sees the change and records the acceptance.
    call ale#codefix#ApplyLSPCodeAction(s:menu[0], l:action)
    call s:Check(s:Wait('getline(2) is# "import sys"', 15000), 'applying the action removes the `import os` line',
    \   getline(1, 5))
    call s:Check(line('$') == 22, 'exactly one line went away', line('$'))

    " Ask on the current line, then on lines 2-3 after putting `import os` back.
    call append(1, 'import os')
    call cursor(4, 1)
    HybridAsk What does line four do?
    call s:Check(s:Wait('stridx(s:Preview(), $HYBRID_TEST_ANSWER) >= 0', 15000), ':HybridAsk shows the answer in the preview window', s:Preview())
    call s:Check(stridx(s:Preview(), 'vim-init-options-model') >= 0, 'the settings reached the server', s:Preview())
    let l:asked = g:hybrid_lsp_last_interaction
    call s:Check(type(l:asked) is v:t_string, 'the answer''s interaction is remembered', l:asked)
    call s:ClosePreview()

    let g:hybrid_lsp_settings = {'local': {'model': 'vim-changed-model'}}
    2,3HybridAsk Which of these imports are unused?
    call s:Check(s:Wait('stridx(s:Preview(), "vim-changed-model") >= 0', 15000),
    \   'changed settings reach the server (workspace/didChangeConfiguration)', s:Preview())
    call s:ClosePreview()

    HybridReject not what I asked
    call s:Wait('0', 500)
    HybridStats
    call s:Check(s:Wait('stridx(s:Preview(), "rejected 1") >= 0', 15000), ':HybridReject then :HybridStats shows it rejected',
    \   s:Preview())
    call s:Out('# ' . substitute(s:Preview(), "\n", "\n# ", 'g'))
    call s:ClosePreview()
endfunction

try
    call s:Main()
catch
    call s:Check(0, 'the script ran to its end', v:exception . ' at ' . v:throwpoint)
endtry
call s:Out(printf('# vim %d: %d checks, %d failed', v:version, s:checks, s:failures))
call ale#lsp#StopAll()
if s:failures > 0
    cquit 1
endif
qall!
