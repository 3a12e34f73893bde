"""Re-export names from submodules on first use (PEP 562), so importing a package imports nothing heavy.

`import interp` must stay fast (the CLI imports it before every command, and torch plus TransformerLens take
seconds), yet `interp.load` and `from interp.analysis import cache_activations` should just work. A package's
`__init__` lists what it re-exports and from where; each name is imported when it is first read.

>>> __getattr__, __dir__ = lazy_exports("interp.core", {"ConfigError": "interp.core.errors"}, globals())
>>> __getattr__("ConfigError").__name__
'ConfigError'
>>> __getattr__("nope")
Traceback (most recent call last):
...
AttributeError: module 'interp.core' has no attribute 'nope'
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str | tuple[str, str]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: `exports` maps each public name to its module (or to a
    (module, name there) pair, to re-export under another name). A name read once is kept in `namespace`
    (the package's globals), so later reads are plain attribute lookups."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = (exports[name], name) if isinstance(exports[name], str) else exports[name]
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
