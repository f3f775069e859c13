"""The Jupyter kernel a report runs in, wherever the package is installed.

The notebooks name the kernel ``retention-lab``. ``make setup`` registers it inside the project's
virtual environment; a plain ``pip install retention-lab`` does not. :func:`kernel_for` therefore
checks that the kernel exists and, if not, registers one for *this* interpreter (the one that has
the package) in its environment (``sys.prefix``; the user's Jupyter directory if that is not
writable) and says so once on standard error. A notebook that names any other kernel that is
missing runs in the same fallback, with the same notice.

Kernels start with :data:`KERNEL_ARGUMENTS`, which keep ipykernel's own start-up and shutdown
notices out of the run's output.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

KERNEL_NAME = "retention-lab"
DISPLAY_NAME = "Python (retention-lab)"

_notified: set = set()


#: Arguments for every kernel a report starts. ipykernel logs that a kernel on loopback TCP is
#: unencrypted (WARNING) and, now and then, that it caught the KeyboardInterrupt of a normal
#: shutdown (ERROR); neither is about the report, and both buried its real output. Only the
#: kernel application's own log is silenced: an error in a cell still fails the run with its
#: traceback (papermill raises it), and the notebook's own output is untouched.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def notebook_kernel(notebook) -> str | None:
    """The kernel name stored in a notebook's metadata, if any."""
    try:
        meta = json.loads(Path(notebook).read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    return (meta.get("kernelspec") or {}).get("name")


def _exists(name: str) -> bool:
    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    return True


def _say(message: str) -> None:
    if message not in _notified:
        _notified.add(message)
        print(f"retention-lab: {message}", file=sys.stderr)


def register_kernel(name: str = KERNEL_NAME) -> str:
    """Register a kernel spec ``name`` for the running interpreter; returns the spec folder."""
    try:
        return install(kernel_name=name, display_name=DISPLAY_NAME, prefix=sys.prefix)
    except OSError:  # a read-only environment (system Python): the user's own Jupyter folder
        return install(kernel_name=name, display_name=DISPLAY_NAME, user=True)


def kernel_for(notebook, kernel_name: str | None = None) -> str:
    """The kernel to run ``notebook`` in: ``kernel_name``, else the notebook's own, registering
    ``retention-lab`` for this interpreter when the one asked for does not exist."""
    wanted = kernel_name or notebook_kernel(notebook) or KERNEL_NAME
    if _exists(wanted):
        return wanted
    if not _exists(KERNEL_NAME):
        where = register_kernel(KERNEL_NAME)
        _say(f"registered the Jupyter kernel '{KERNEL_NAME}' for {sys.executable} "
             f"(first use; spec in {where})")
    if wanted != KERNEL_NAME:
        _say(f"kernel '{wanted}' does not exist; running in '{KERNEL_NAME}' ({sys.executable})")
    return KERNEL_NAME
