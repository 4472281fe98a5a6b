;;; hybrid-lsp.el --- Eglot glue for hybrid-lsp -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, languages

;;; Commentary:

;; hybrid-lsp answers the diagnostics of your other tools with quick fixes and explanations.
;; Eglot runs one server per buffer and puts only that server's own diagnostics in code action
;; requests, so hybrid-lsp would never see what Ruff, Pyright or a compiler report through
;; Flymake.  `hybrid-lsp-mode' forwards every Flymake diagnostic of a buffer managed by
;; hybrid-lsp with the notification `hybridLsp/diagnostics', keeps the Flymake backends listed in
;; `hybrid-lsp-flymake-backends' running beside Eglot's, and adds `hybrid-lsp-ask',
;; `hybrid-lsp-stats' and `hybrid-lsp-reject'.  See editors/emacs/README.md.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'flymake)
(require 'jsonrpc)
(require 'seq)

(defgroup hybrid-lsp nil
  "Quick fixes and explanations for every diagnostic, from hybrid-lsp."
  :group 'eglot)

(defcustom hybrid-lsp-flymake-backends nil
  "Flymake backends to run beside Eglot's in buffers hybrid-lsp manages.
Eglot replaces `flymake-diagnostic-functions' with its own backend; the
diagnostics of these backends (e.g. `python-flymake') are shown again and
forwarded to hybrid-lsp."
  :type '(repeat function))

(defvar hybrid-lsp-last-interaction nil
  "The interaction `hybrid-lsp-reject' rejects.
The last fix applied or answer shown.")

(defun hybrid-lsp--server ()
  "The Eglot server of this buffer if it is hybrid-lsp, else nil."
  (let ((server (eglot-current-server)))
    (when (and server
               (seq-contains-p (plist-get (plist-get (eglot--capabilities server) :executeCommandProvider)
                                          :commands)
                               "hybridLsp.ask"))
      server)))

(defun hybrid-lsp--severity (type)
  "LSP severity (1-4) of the Flymake diagnostic TYPE."
  (pcase (or (get type 'flymake-category) type)
    ('flymake-error 1)
    ('flymake-warning 2)
    (_ 3)))

(defun hybrid-lsp--source (backend)
  "A readable source name for the Flymake BACKEND function."
  (let ((name (if (symbolp backend) (symbol-name backend) "flymake")))
    (string-remove-suffix "-flymake" (string-remove-prefix "flymake-" name))))

(defun hybrid-lsp--lsp-diagnostic (diag)
  "DIAG, a Flymake diagnostic, as an LSP Diagnostic plist.
Source and code come from DIAG's data when it is a plist (:source :code) or
an Eglot diagnostic; otherwise the backend names the source and a leading
rule code in the text (\"F401 ...\") is split off."
  (let* ((data (flymake-diagnostic-data diag))
         (lsp (and (consp data) (consp (car data)) (cdr (assq 'eglot-lsp-diag data))))
         (plist (and (consp data) (keywordp (car data)) data))
         (text (flymake-diagnostic-text diag))
         (source (or (plist-get plist :source) (plist-get lsp :source)))
         (code (or (plist-get plist :code) (plist-get lsp :code))))
    (when (and (not code) (string-match "\\`\\([A-Z]+[0-9]+\\):? \\(.+\\)" text))
      (setq code (match-string 1 text)
            text (match-string 2 text)))
    (append
     (list :range (list :start (eglot--pos-to-lsp-position (flymake-diagnostic-beg diag))
                        :end (eglot--pos-to-lsp-position (flymake-diagnostic-end diag)))
           :severity (hybrid-lsp--severity (flymake-diagnostic-type diag))
           :source (or source (hybrid-lsp--source (flymake-diagnostic-backend diag)))
           :message text)
     (and code (list :code code)))))

(defun hybrid-lsp-forward-diagnostics (&optional buffer)
  "Send every Flymake diagnostic of BUFFER (default: current) to hybrid-lsp."
  (interactive)
  (with-current-buffer (or buffer (current-buffer))
    (let ((server (hybrid-lsp--server)))
      (when (and server buffer-file-name eglot--managed-mode)
        (jsonrpc-notify
         server :hybridLsp/diagnostics
         (list :uri (eglot--path-to-uri buffer-file-name)
               :version eglot--versioned-identifier
               :diagnostics (vconcat (mapcar #'hybrid-lsp--lsp-diagnostic
                                             (flymake-diagnostics (point-min) (point-max))))))))))

(defun hybrid-lsp--after-report (&rest _)
  "Forward the buffer's diagnostics after any Flymake backend reported."
  (when (hybrid-lsp--server)
    (hybrid-lsp-forward-diagnostics)))

(defun hybrid-lsp--managed ()
  "Run in `eglot-managed-mode-hook': restore the other backends, forward once."
  (when (and eglot--managed-mode (hybrid-lsp--server))
    (dolist (backend hybrid-lsp-flymake-backends)
      (add-hook 'flymake-diagnostic-functions backend nil t))
    (hybrid-lsp-forward-diagnostics)))

(cl-defmethod eglot-execute-command :around (server command arguments)
  "Remember the interaction of hybrid-lsp's commands, for `hybrid-lsp-reject'."
  (let ((result (cl-call-next-method server command arguments)))
    (when (string-prefix-p "hybridLsp." (format "%s" command))
      (let ((first (and (> (length arguments) 0) (elt arguments 0))))
        (cond ((and (listp result) (stringp (plist-get result :interaction)))
               (setq hybrid-lsp-last-interaction (plist-get result :interaction)))
              ((and (memq (intern (format "%s" command)) '(hybridLsp.accept hybridLsp.explain)) (stringp first))
               (setq hybrid-lsp-last-interaction first)))))
    result))

;;;###autoload
(define-minor-mode hybrid-lsp-mode
  "Forward all Flymake diagnostics to hybrid-lsp.
Also keep `hybrid-lsp-flymake-backends' running beside Eglot's backend."
  :global t
  (if hybrid-lsp-mode
      (progn
        (add-hook 'eglot-managed-mode-hook #'hybrid-lsp--managed)
        (advice-add 'flymake--handle-report :after #'hybrid-lsp--after-report))
    (remove-hook 'eglot-managed-mode-hook #'hybrid-lsp--managed)
    (advice-remove 'flymake--handle-report #'hybrid-lsp--after-report)))

(defun hybrid-lsp--command (command &rest arguments)
  "Run hybrid-lsp's COMMAND with ARGUMENTS on this buffer's server."
  (let ((server (or (hybrid-lsp--server) (user-error "hybrid-lsp is not managing this buffer"))))
    (eglot-execute-command server command (vconcat arguments))))

(defun hybrid-lsp--show (lines)
  "Show LINES in the *hybrid-lsp* buffer."
  (with-current-buffer (get-buffer-create "*hybrid-lsp*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (mapconcat #'identity lines "\n") "\n")
      (goto-char (point-min))
      (special-mode))
    (display-buffer (current-buffer))))

;;;###autoload
(defun hybrid-lsp-ask (question &optional beg end)
  "Ask hybrid-lsp QUESTION about the region BEG..END, or the current line."
  (interactive (cons (read-string "Ask hybrid-lsp: ")
                     (if (use-region-p) (list (region-beginning) (region-end)))))
  (let* ((beg (save-excursion (goto-char (or beg (point))) (line-beginning-position)))
         (end (save-excursion (goto-char (or end (point)))
                              (when (and (bolp) (> (point) beg)) (backward-char))
                              (line-end-position)))
         (result (hybrid-lsp--command 'hybridLsp.ask question
                                      (eglot--path-to-uri buffer-file-name)
                                      (list :start (eglot--pos-to-lsp-position beg)
                                            :end (eglot--pos-to-lsp-position end))))
         (tokens (plist-get result :tokens)))
    (hybrid-lsp--show
     (list (plist-get result :answer) ""
           (format "route: %s · %s · %s prompt + %s completion tokens · M-x hybrid-lsp-reject if unhelpful"
                   (plist-get result :route) (plist-get result :model)
                   (plist-get tokens :prompt) (plist-get tokens :completion))))
    result))

;;;###autoload
(defun hybrid-lsp-stats ()
  "Show hybrid-lsp's statistics."
  (interactive)
  (let* ((s (hybrid-lsp--command 'hybridLsp.stats))
         (routes (plist-get s :routes))
         (tokens (plist-get s :tokens)))
    (hybrid-lsp--show
     (list (format "interactions: %s (fixes %s, asks %s)" (plist-get s :interactions) (plist-get s :fixes) (plist-get s :asks))
           (format "routes: known %s · local %s · remote %s"
                   (plist-get routes :known) (plist-get routes :local) (plist-get routes :remote))
           (format "tokens: local %s · remote %s" (plist-get tokens :local) (plist-get tokens :remote))
           (format "accept rate: %s" (plist-get s :accept_rate))
           (format "outcomes: %S" (plist-get s :outcomes))))
    s))

;;;###autoload
(defun hybrid-lsp-reject (&optional reason)
  "Record that the last fix or answer was not helpful, with an optional REASON."
  (interactive (list (read-string "Why (optional): ")))
  (unless hybrid-lsp-last-interaction
    (user-error "Nothing to reject yet: apply a hybrid-lsp fix or ask a question first"))
  (let ((result (if (and reason (not (string-empty-p reason)))
                    (hybrid-lsp--command 'hybridLsp.reject hybrid-lsp-last-interaction reason)
                  (hybrid-lsp--command 'hybridLsp.reject hybrid-lsp-last-interaction))))
    (message "hybrid-lsp: interaction %s %s" (plist-get result :interaction) (plist-get result :outcome))
    result))

(provide 'hybrid-lsp)
;;; hybrid-lsp.el ends here
