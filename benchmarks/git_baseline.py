"""A module as it was at an earlier revision of this repository, loaded from git beside the current one, so a
benchmark compares before and after in one interleaved run without a frozen copy of old code in the tree."""

from __future__ import annotations

import subprocess
import sys
import types

from examples.processes import REPO


def module_at(ref: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{ref}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # our own history, from git
    return module
