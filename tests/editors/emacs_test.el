;;; emacs_test.el --- hybrid-lsp in a real Emacs with Eglot, in batch mode -*- lexical-binding: t; -*-

;; Run by tests/test_editor_emacs.py:  emacs --batch -Q -l tests/editors/emacs_test.el
;; Environment: HYBRID_TEST_EMACS_DIR (editors/emacs), HYBRID_TEST_FILE (a copy of
;; examples/broken.py), HYBRID_TEST_CMD (JSON list: the server command), HYBRID_TEST_ANSWER.
;; Prints one "ok"/"not ok" line per check and exits non-zero if any check failed.

(require 'package)
(package-initialize) ; Debian's elpa-eglot lives in /usr/share/emacs/site-lisp/elpa
(require 'cl-lib)
(require 'json)
(require 'python)

(defvar test-checks 0)
(defvar test-failures 0)
(defconst test-timeout 15)

(defun test-out (fmt &rest args)
  (princ (concat (apply #'format fmt args) "\n") #'external-debugging-output))

(defun test-check (condition what &optional detail)
  (setq test-checks (1+ test-checks))
  (if condition
      (test-out "ok %d - %s" test-checks what)
    (setq test-failures (1+ test-failures))
    (test-out "not ok %d - %s%s" test-checks what
              (if detail (format "\n  # %s" (replace-regexp-in-string "\n" "\n  # " (format "%s" detail))) "")))
  condition)

(defun test-env (name)
  (let ((value (getenv name)))
    (unless (and value (not (string-empty-p value))) (error "Missing environment variable %s" name))
    value))

(defmacro test-poll (seconds &rest body)
  "Evaluate BODY until it returns non-nil or SECONDS pass, serving process output meanwhile."
  `(let ((deadline (+ (float-time) ,seconds)) (value nil))
     (while (and (not (setq value (progn ,@body))) (< (float-time) deadline))
       (accept-process-output nil 0.1))
     value))

(defun test-line (n)
  (save-excursion (goto-char (point-min)) (forward-line (1- n))
                  (buffer-substring-no-properties (line-beginning-position) (line-end-position))))

(defun test-line-region (n)
  (save-excursion (goto-char (point-min)) (forward-line (1- n))
                  (cons (line-beginning-position) (line-end-position))))

;; Batch Emacs is never idle, so Eglot's idle timer that sends didChange never fires: run it.
(defun test-idle ()
  (when eglot--change-idle-timer (cancel-timer eglot--change-idle-timer))
  (eglot--signal-textDocument/didChange))

;; A Flymake backend standing in for a linter: it reports Ruff's F401 on the `import os' line.
(defun test-ruff-flymake (report-fn &rest _)
  (let (diags)
    (save-excursion
      (goto-char (point-min))
      (when (re-search-forward "^import \\(os\\)$" nil t)
        (push (flymake-make-diagnostic (current-buffer) (match-beginning 1) (match-end 1) :warning
                                       "`os` imported but unused" '(:source "Ruff" :code "F401"))
              diags)))
    (funcall report-fn diags)))

(defun test-main ()
  (let* ((cmd (append (json-read-from-string (test-env "HYBRID_TEST_CMD")) nil))
         (file (test-env "HYBRID_TEST_FILE"))
         (answer (test-env "HYBRID_TEST_ANSWER"))
         (solution "nothing in the file refers to it"))
    (add-to-list 'load-path (test-env "HYBRID_TEST_EMACS_DIR"))
    (require 'hybrid-lsp)

    ;; The configuration editors/emacs/README.md gives.
    (add-to-list 'eglot-server-programs
                 `(python-mode . (,@cmd :initializationOptions
                                        (:hybridLsp (:local (:model "emacs-init-options-model"))))))
    (setq eglot-confirm-server-initiated-edits nil)
    (setq hybrid-lsp-flymake-backends '(test-ruff-flymake))
    (hybrid-lsp-mode 1)

    (find-file file)
    (switch-to-buffer (current-buffer))
    (test-check (eq major-mode 'python-mode) "the broken file opens in python-mode")
    (apply #'eglot (eglot--guess-contact))
    (test-check (test-poll 30 (and eglot--managed-mode (hybrid-lsp--server)))
                "Eglot starts hybrid-lsp and manages the buffer")
    (test-check (equal (test-line 2) "import os") "line 2 is `import os'" (test-line 2))

    ;; Flymake runs the linter backend; hybrid-lsp-mode forwards its report.
    (flymake-start)
    (let* ((server (eglot-current-server))
           (line2 (test-line-region 2))
           (actions (test-poll test-timeout
                               (append (eglot-code-actions (car line2) (cdr line2)) nil)))
           (action (car actions))
           (echoed (aref (plist-get action :diagnostics) 0)))
      (unless (test-check action "forwarded diagnostics: Eglot's code action request (with an empty context) gets a fix"
                          (format "flymake: %S" (flymake-diagnostics)))
        (error "no code action"))
      (test-check (and (equal (plist-get echoed :source) "Ruff") (equal (plist-get echoed :code) "F401")
                       (equal (plist-get echoed :message) "`os` imported but unused")
                       (equal (plist-get echoed :severity) 2)
                       (equal (plist-get echoed :range)
                              '(:start (:line 1 :character 7) :end (:line 1 :character 9))))
                  "the Flymake diagnostic arrived in LSP form" echoed)
      (test-check (string-match-p "known fix, 0 tokens" (plist-get action :title)) "the action is the known fix"
                  (plist-get action :title))
      (test-check (and (plist-get action :edit)
                       (equal (plist-get (plist-get action :command) :command) "hybridLsp.accept"))
                  "Eglot cannot resolve edits, so the stored fix comes at once, with hybridLsp.accept" action)

      ;; Eglot's own menu path: pick the action; Eglot applies the edit, then runs the command.
      (cl-letf (((symbol-function 'completing-read) (lambda (&rest _) (plist-get action :title))))
        (let ((last-nonmenu-event ?\r))
          (eglot-code-actions (car line2) (cdr line2) nil t)))
      (test-check (test-poll test-timeout (equal (test-line 2) "import sys"))
                  "applying the quick fix removes the `import os' line" (buffer-string))
      (test-idle)
      (test-check (stringp hybrid-lsp-last-interaction) "the applied fix's interaction is remembered")
      (let ((stats (eglot-execute-command server 'hybridLsp.stats [])))
        (test-check (equal (plist-get (plist-get stats :outcomes) :accepted) 1)
                    "the server recorded the fix as accepted" stats))
      (let ((rejected (hybrid-lsp-reject "not wanted")))
        (test-check (equal (plist-get rejected :outcome) "rejected") "hybrid-lsp-reject rejects it" rejected))

      ;; Put the line back (as a user would type it) for hover and ask.
      (goto-char (car (test-line-region 2)))
      (insert "import os\n")
      (test-idle)
      (flymake-start)
      (test-poll 2 nil)

      ;; Hover, through the request and through Eglot's eldoc function.
      (goto-char (+ (car (test-line-region 2)) 8))
      (let* ((hover (jsonrpc-request server :textDocument/hover (eglot--TextDocumentPositionParams)))
             (text (and hover (eglot--hover-info (plist-get hover :contents)))))
        (test-check (and text (string-match-p (regexp-quote solution) text))
                    "textDocument/hover shows the stored solution" text))
      (let ((seen nil))
        (eglot-hover-eldoc-function (lambda (info &rest _) (setq seen (or info ""))))
        (test-poll test-timeout seen)
        (test-check (and seen (string-match-p (regexp-quote solution) seen))
                    "Eglot's eldoc hover function gets the explanation" seen))

      ;; Ask, with the current line as context; the settings came as initializationOptions.
      (goto-char (car (test-line-region 4)))
      (let ((result (hybrid-lsp-ask "What does line four do?")))
        (test-check (equal (plist-get result :answer) answer) "hybrid-lsp-ask returns the model's answer" result)
        (test-check (equal (plist-get result :model) "emacs-init-options-model")
                    "initializationOptions reached the server" result)
        (test-check (with-current-buffer "*hybrid-lsp*" (string-match-p (regexp-quote answer) (buffer-string)))
                    "the answer is shown in the *hybrid-lsp* buffer"))

      ;; Changed settings reach the server through workspace/configuration.
      (setq-default eglot-workspace-configuration '((:hybridLsp . (:local (:model "emacs-configuration-model")))))
      (eglot-signal-didChangeConfiguration server)
      (test-poll 1 nil)
      (let ((result (hybrid-lsp-ask "Which imports are unused?" (car (test-line-region 2)) (cdr (test-line-region 3)))))
        (test-check (equal (plist-get result :model) "emacs-configuration-model")
                    "eglot-workspace-configuration is answered on workspace/configuration" result))

      (let ((stats (hybrid-lsp-stats)))
        (test-check (equal (plist-get (plist-get stats :routes) :known) 1) "hybrid-lsp-stats counts the known fix" stats))
      (let ((started (float-time)))
        (eglot-shutdown server)
        (test-out "# shutdown took %.1f s" (- (float-time) started))))))

(condition-case err
    (test-main)
  (error (test-check nil "the script ran to its end" err)))
(test-out "# emacs %s: %d checks, %d failed" emacs-version test-checks test-failures)
(kill-emacs (if (> test-failures 0) 1 0))
