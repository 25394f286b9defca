; Definitions in Python. Module-level names in capitals are constants by convention.
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module
  (expression_statement
    (assignment left: (identifier) @name)) @definition.const
  (#match? @name "^[A-Z][A-Z0-9_]*$"))
