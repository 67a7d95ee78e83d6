"""Every name a handler body reads is bound, in every branch, taken by a test or not.

A typo (``Ordr``) or a missing import in a body would otherwise pass every test whose
data does not reach it, then fail on the first real save, as a ``NameError`` that
on_error: log only logs. The check reads the handler modules with ``symtable``: a
name is bound when the function has it (a parameter or a local), the module has it (an
import, a function, ``logger``) or Python does (a builtin).
"""

import ast
import builtins
import symtable
from pathlib import Path

from django.test import SimpleTestCase

from .. import handlers

MODULE_ATTRIBUTES = {"__name__", "__file__", "__doc__", "__package__", "__spec__"}


def unbound_names(source: str, filename: str) -> list[tuple[str, str, int]]:
    """(function, name, line) of each global name a function reads that nothing binds."""
    module = symtable.symtable(source, filename, "exec")
    bound = set(dir(builtins)) | MODULE_ATTRIBUTES
    bound |= {
        symbol.get_name()
        for symbol in module.get_symbols()
        if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()
    }
    lines: dict[tuple[str, str], int] = {}  # where each function first reads a name
    for statement in ast.parse(source, filename).body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(statement):
                if isinstance(node, ast.Name):
                    key = (statement.name, node.id)
                    lines[key] = min(lines.get(key, node.lineno), node.lineno)
    found: list[tuple[str, str, int]] = []
    for function in module.get_children():
        for table in _tables(function):
            for symbol in table.get_symbols():
                name = symbol.get_name()
                if symbol.is_global() and symbol.is_referenced() and name not in bound:
                    key = (function.get_name(), name)
                    found.append((*key, lines.get(key, function.get_lineno())))
    return sorted(set(found), key=lambda item: item[2])


def _tables(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    """``table`` and the scopes nested in it (functions, lambdas, comprehensions)."""
    return [
        table,
        *(nested for child in table.get_children() for nested in _tables(child)),
    ]


class HandlerNameTests(SimpleTestCase):
    def test_every_name_a_body_reads_is_bound(self) -> None:
        folder = Path(handlers.__file__).parent
        for path in sorted(folder.glob("*.py")):
            with self.subTest(handler=path.stem):
                problems = [
                    f"handlers/{path.name}:{line}: {function}() of handler {path.stem} "
                    f"reads {name!r}, which nothing binds"
                    for function, name, line in unbound_names(
                        path.read_text(), str(path)
                    )
                ]
                if problems:
                    self.fail(
                        "\n".join(problems)
                        + "\nA typo, or a missing import: add it to "
                        "the `imports` answer, or import it in the handler's module."
                    )
