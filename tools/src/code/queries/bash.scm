; Definitions in shell scripts: functions, and top-level settings in capitals
; (RETENTION_DAYS=7), which scripts use as constants.
(function_definition name: (word) @name) @definition.function
(program
  (variable_assignment name: (variable_name) @name) @definition.const
  (#match? @name "^[A-Z][A-Z0-9_]*$"))
