"""Create the project's virtualenv with a working pip, on any Python 3.11+.

Debian and Ubuntu ship Python without ``ensurepip`` unless ``python3-venv`` is installed; then
the virtualenv is created without pip and pip is fetched from PyPI and installed into it, so
``make run`` still needs nothing but Python and make.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path

MINIMUM = (3, 11)
PYPI_PIP = "https://pypi.org/pypi/pip/json"


def has_pip(python: Path) -> bool:
    return python.exists() and subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0


def install_pip_from_pypi(python: Path) -> None:
    """Install pip into the virtualenv from its own wheel (pip can run from a wheel file)."""
    with urllib.request.urlopen(PYPI_PIP, timeout=30) as response:
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / wheel["filename"]
        urllib.request.urlretrieve(wheel["url"], path)
        subprocess.run([python, f"{path}/pip", "install", "--no-index", str(path)], check=True)


def main(target: str) -> int:
    if sys.version_info < MINIMUM:
        found = ".".join(map(str, sys.version_info[:3]))
        print(f"Python 3.11 or newer is needed, {sys.executable} is {found}.", file=sys.stderr)
        print("Point make at another interpreter, e.g.: make run PYTHON=python3.12", file=sys.stderr)
        return 1
    root = Path(target)
    python = root / "bin" / "python"
    if has_pip(python):
        return 0
    try:
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(root)
    except subprocess.CalledProcessError:
        print("This Python has no ensurepip (Debian: package python3-venv); fetching pip from PyPI.", file=sys.stderr)
        venv.EnvBuilder(with_pip=False, clear=True).create(root)
        install_pip_from_pypi(python)
    if not has_pip(python):
        print(f"Could not create a virtualenv with pip in {root}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv"))
