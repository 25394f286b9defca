; Definitions in JavaScript (also the base of the TypeScript query). A variable holding a
; function is a function; other top-level `const`s are constants. Earlier patterns win
; when two capture the same name.
(function_declaration name: (_) @name) @definition.function
(generator_function_declaration name: (_) @name) @definition.function
(class_declaration name: (_) @name) @definition.class
(method_definition name: (_) @name) @definition.method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
(program
  (lexical_declaration kind: "const"
    (variable_declarator name: (identifier) @name) @definition.const))
(program
  (export_statement
    declaration: (lexical_declaration kind: "const"
      (variable_declarator name: (identifier) @name) @definition.const)))
