"""The installed ``tracedoc`` command, as a user runs it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def tracedoc_command() -> list[str]:
    """The console script beside this Python, else on PATH, else ``-m``."""
    exe = Path(sys.executable).with_name("tracedoc")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("tracedoc")
    return [found] if found else [sys.executable, "-m", "tracedoc.cli.main"]
