" hybrid-lsp for Vim 8.2+ / 9 with ALE: registers hybrid-lsp as an ALE LSP linter and forwards
" every diagnostic ALE shows for a buffer (all linters) to it with `hybridLsp/diagnostics`,
" because ALE puts at most one diagnostic, without its source, in a code action request.
" Adds :HybridAsk, :HybridStats and :HybridReject. See editors/vim/README.md.

if exists('g:loaded_hybrid_lsp')
    finish
endif
let g:loaded_hybrid_lsp = 1

" The server: ALE runs `command` with %e replaced by `executable`.
let g:hybrid_lsp_executable = get(g:, 'hybrid_lsp_executable', 'hybrid-lsp')
let g:hybrid_lsp_command = get(g:, 'hybrid_lsp_command', '%e')
let g:hybrid_lsp_filetypes = get(g:, 'hybrid_lsp_filetypes',
\   ['python', 'typescript', 'javascript', 'rust', 'go', 'sh'])
" Server settings (keys as in the server's README), sent as initializationOptions and with
" workspace/didChangeConfiguration (ALE does not answer workspace/configuration).
let g:hybrid_lsp_settings = get(g:, 'hybrid_lsp_settings', {})
let g:hybrid_lsp_root_markers = get(g:, 'hybrid_lsp_root_markers',
\   ['.git', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod'])

" The interaction :HybridReject rejects: the last answer or applied fix seen.
let g:hybrid_lsp_last_interaction = v:null

function! s:ProjectRoot(buffer) abort
    let l:dir = fnamemodify(bufname(a:buffer), ':p:h')

    for l:marker in g:hybrid_lsp_root_markers
        let l:found = finddir(l:marker, l:dir . ';')

        if empty(l:found)
            let l:found = findfile(l:marker, l:dir . ';')
        endif

        if !empty(l:found)
            return fnamemodify(substitute(fnamemodify(l:found, ':p'), '/$', '', ''), ':h')
        endif
    endfor

    return l:dir
endfunction

function! s:Settings(buffer) abort
    return {'hybridLsp': empty(g:hybrid_lsp_settings) ? {} : g:hybrid_lsp_settings}
endfunction

for s:filetype in g:hybrid_lsp_filetypes
    call ale#linter#Define(s:filetype, {
    \   'name': 'hybrid_lsp',
    \   'lsp': 'stdio',
    \   'executable': {buffer -> g:hybrid_lsp_executable},
    \   'command': {buffer -> g:hybrid_lsp_command},
    \   'project_root': function('s:ProjectRoot'),
    \   'initialization_options': function('s:Settings'),
    \   'lsp_config': function('s:Settings'),
    \   'language': {buffer -> getbufvar(buffer, '&filetype')},
    \})
endfor

" 0-based UTF-16-ish character index of 1-based byte column `col` on line `lnum`.
function! s:Character(buffer, lnum, col) abort
    let l:line = get(getbufline(a:buffer, a:lnum), 0, '')

    return strchars(strpart(l:line, 0, max([a:col, 1]) - 1))
endfunction

" One ALE loclist item as an LSP Diagnostic.
function! hybrid_lsp#ToLspDiagnostic(buffer, item) abort
    let l:lnum = max([get(a:item, 'lnum', 1), 1])
    let l:col = max([get(a:item, 'col', 1), 1])
    let l:end_lnum = get(a:item, 'end_lnum', l:lnum)
    " ALE's end_col is the last column, inclusive: LSP's end is the next character.
    let l:end_col = has_key(a:item, 'end_col') ? a:item.end_col + 1 : l:col
    let l:type = get(a:item, 'type', 'E')
    let l:diagnostic = {
    \   'range': {
    \       'start': {'line': l:lnum - 1, 'character': s:Character(a:buffer, l:lnum, l:col)},
    \       'end': {'line': l:end_lnum - 1, 'character': s:Character(a:buffer, l:end_lnum, l:end_col)},
    \   },
    \   'severity': l:type is# 'E' ? 1 : l:type is# 'W' ? 2 : 3,
    \   'source': get(a:item, 'linter_name', 'ale'),
    \   'message': get(a:item, 'text', ''),
    \}

    if has_key(a:item, 'code')
        let l:diagnostic.code = a:item.code
    endif

    return l:diagnostic
endfunction

let s:sent = {}

" Send every diagnostic ALE holds for the buffer to hybrid-lsp (when it changed since last time).
function! hybrid_lsp#Forward(buffer) abort
    if index(g:hybrid_lsp_filetypes, getbufvar(a:buffer, '&filetype')) < 0
        return
    endif

    let l:items = filter(copy(ale#engine#GetLoclist(a:buffer)),
    \   {_, item -> get(item, 'bufnr', a:buffer) == a:buffer && get(item, 'linter_name', '') isnot# 'hybrid_lsp'})
    let l:diagnostics = map(l:items, {_, item -> hybrid_lsp#ToLspDiagnostic(a:buffer, item)})
    let l:params = {
    \   'uri': ale#util#ToURI(fnamemodify(bufname(a:buffer), ':p')),
    \   'version': v:null,
    \   'diagnostics': l:diagnostics,
    \}

    if get(s:sent, a:buffer, v:null) ==# l:params
        return
    endif

    let s:sent[a:buffer] = l:params
    let l:linters = filter(ale#linter#Get(getbufvar(a:buffer, '&filetype')), {_, l -> l.name is# 'hybrid_lsp'})

    if !empty(l:linters)
        call ale#lsp_linter#StartLSP(a:buffer, l:linters[0], function('s:SendDiagnostics', [l:params]))
    endif
endfunction

function! s:SendDiagnostics(params, linter, details) abort
    " Watch every response on this connection for interaction ids (fixes applied from ALE's menu run
    " hybridLsp.accept or hybridLsp.applyFix; their results name the interaction).
    call ale#lsp#RegisterCallback(a:details.connection_id, function('s:Watch'))
    call ale#lsp#Send(a:details.connection_id, [1, 'hybridLsp/diagnostics', a:params])
endfunction

function! s:Watch(conn_id, response) abort
    if has_key(a:response, 'result')
        call s:Remember(a:response.result)
    endif
endfunction

function! s:ForwardAll() abort
    for l:buffer in keys(get(g:, 'ale_buffer_info', {}))
        if bufexists(str2nr(l:buffer))
            call hybrid_lsp#Forward(str2nr(l:buffer))
        endif
    endfor
endfunction

augroup hybrid_lsp
    autocmd!
    autocmd User ALELintPost call s:ForwardAll()
augroup END

function! s:Show(lines) abort
    " A preview window: works in every Vim, including ones without popups.
    call ale#preview#Show(a:lines, {'filetype': 'markdown', 'stay_here': 1})
endfunction

function! s:Remember(result) abort
    if type(a:result) is v:t_dict && type(get(a:result, 'interaction')) is v:t_string
        let g:hybrid_lsp_last_interaction = a:result.interaction
    endif
endfunction

" Run a hybrid-lsp command; `Done(result)` gets the result.
function! hybrid_lsp#Execute(command, arguments, Done) abort
    let l:Handler = {response -> s:Handle(a:command, response, a:Done)}
    call ale#lsp_linter#SendRequest(bufnr(''), 'hybrid_lsp',
    \   ale#lsp#message#ExecuteCommand(a:command, a:arguments), l:Handler)
endfunction

function! s:Handle(command, response, Done) abort
    if has_key(a:response, 'error')
        echohl ErrorMsg | echomsg 'hybrid-lsp: ' . a:command . ': ' . get(a:response.error, 'message', '') | echohl None

        return
    endif

    let l:result = get(a:response, 'result', v:null)
    call s:Remember(l:result)
    call a:Done(l:result)
endfunction

function! hybrid_lsp#Ask(question, line1, line2) abort
    let l:last = getline(a:line2)
    let l:range = {
    \   'start': {'line': a:line1 - 1, 'character': 0},
    \   'end': {'line': a:line2 - 1, 'character': strchars(l:last)},
    \}
    call hybrid_lsp#Execute('hybridLsp.ask',
    \   [a:question, ale#util#ToURI(expand('%:p')), l:range],
    \   {result -> s:Show(split(result.answer, "\n") + ['', '---',
    \       printf('route: %s · %s · %s prompt + %s completion tokens · :HybridReject if unhelpful',
    \           result.route, result.model, result.tokens.prompt, result.tokens.completion)])})
endfunction

function! hybrid_lsp#Stats() abort
    call hybrid_lsp#Execute('hybridLsp.stats', [], {st -> s:Show([
    \   printf('interactions: %s (fixes %s, asks %s)', st.interactions, st.fixes, st.asks),
    \   printf('routes: known %s · local %s · remote %s', st.routes.known, st.routes.local, st.routes.remote),
    \   printf('tokens: local %s · remote %s', st.tokens.local, st.tokens.remote),
    \   printf('accept rate: %s', st.accept_rate),
    \   'outcomes: ' . join(map(items(st.outcomes), {_, kv -> kv[0] . ' ' . kv[1]}), ' · '),
    \])})
endfunction

function! hybrid_lsp#Reject(reason) abort
    if g:hybrid_lsp_last_interaction is v:null
        echomsg 'hybrid-lsp: nothing to reject yet: apply a fix or ask a question first'

        return
    endif

    let l:arguments = [g:hybrid_lsp_last_interaction] + (empty(a:reason) ? [] : [a:reason])
    call hybrid_lsp#Execute('hybridLsp.reject', l:arguments,
    \   {result -> execute('echomsg "hybrid-lsp: interaction ' . result.interaction . ' ' . result.outcome . '"', '')})
endfunction

command! -range -nargs=+ HybridAsk call hybrid_lsp#Ask(<q-args>, <line1>, <line2>)
command! -nargs=0 HybridStats call hybrid_lsp#Stats()
command! -nargs=? HybridReject call hybrid_lsp#Reject(<q-args>)
