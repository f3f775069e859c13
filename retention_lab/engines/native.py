"""The one-pass summary kernel in C (``summary_kernel.c``): built at install, loaded with ctypes.

The numba kernel of :mod:`.kernels` costs a new process ~0.6 s CPU before its first row
(importing numba, and numba importing scipy.linalg for its BLAS check, then loading the cached
machine code); the same loop in C, compiled once by :func:`build` and loaded by :func:`load`,
costs ~5 ms. Its numbers are the numba kernel's bit for bit (the same additions in the same
order; tests/engines/test_native_kernel.py). :mod:`.kernels` falls back to numba, then numpy,
when the library is absent, stale or fails to load; :data:`NOTE` says why.

Where the library lives: next to its source, ``retention_lab/engines/_summary_kernel.so``
(git-ignored). ``make setup`` installs the package in editable mode, so that directory is the
checkout itself, the loader finds the library by ``__file__`` with no search path, and a
``git clean`` or a new clone cannot pick up a library built elsewhere. A library built from
another version of the source is refused: the builder compiles the hash of the source and the
flags into it (``rl_source_hash``), and :func:`load` compares it with the current file's.

``make setup`` builds it (``rl.engines.warm()``, and a Makefile rule when the source changes);
by hand: ``from retention_lab.engines import native; native.build()``. Without a working C
compiler the build returns a note; nothing fails, and the numba kernel counts.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "summary_kernel.c"
LIBRARY = HERE / "_summary_kernel.so"
#: -O2 as the numba kernel's LLVM; no -ffast-math, and no contraction of a*b+c into FMA, so
#: that the additions are IEEE's, in source order (the kernel only adds: belt and braces).
CFLAGS = ("-O2", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off")
#: Why the C kernel is not in use, once :func:`load` has run (``None``: it loaded).
NOTE: str | None = "not loaded yet"
ERRORS = {1: "bad arguments", 2: "a row's day is outside the kernel's period table",
          3: "out of memory"}

_c_int64, _ptr = ctypes.c_int64, ctypes.c_void_p
_ARGTYPES = [_c_int64, _ptr, _ptr, _ptr, _ptr, _c_int64, _c_int64, _c_int64, _c_int64,
             _c_int64, _ptr, _c_int64, _ptr, _ptr, _ptr, _c_int64, _c_int64, ctypes.c_int,
             _ptr, _c_int64]
#: Bytes of one bucketed row in the kernel's scratch buffer (``struct rl_row``).
ROW_BYTES = 16


def compiler() -> str | None:
    """The C compiler: ``$CC``, else ``cc`` or ``gcc`` on the PATH, else ``None``."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def source_hash(flags=CFLAGS) -> int:
    """64 bits of the SHA-256 of the C source and the flags: the version a library carries."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def compile_to(target: Path, extra_flags=(), cc: str | None = None) -> None:
    """Compile :data:`SOURCE` into the shared library ``target`` (written to a temporary file
    first, then renamed: a process never sees half a library). Raises ``RuntimeError`` with
    the compiler's message on failure."""
    cc = cc or compiler()
    if cc is None:
        raise RuntimeError("no C compiler found ($CC, cc, gcc)")
    target = Path(target)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [*cc.split(), *CFLAGS, *extra_flags, f"-DRL_SOURCE_HASH={source_hash()}ULL",
           str(SOURCE), "-o", tmp]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
        os.chmod(tmp, 0o755)  # mkstemp's 0600 would hide it from other users of the install
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build(force: bool = False) -> dict:
    """Build :data:`LIBRARY` unless an up-to-date one is there. Never raises: returns
    ``{"built": bool, "library": path or None, "note": why not, or None}``."""
    if not force and _open(LIBRARY) is not None:
        os.utime(LIBRARY)  # checked current: newer than its source for make's rule from now on
        return {"built": False, "library": str(LIBRARY), "note": None}
    try:
        compile_to(LIBRARY)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {"built": False, "library": None,
                "note": f"the C summary kernel was not built ({exc}); the numba kernel counts"}
    if _open(LIBRARY) is None:
        return {"built": False, "library": None, "note": NOTE}
    return {"built": True, "library": str(LIBRARY), "note": None}


def _open(path: Path):
    """The ctypes function ``rl_accumulate`` of the library at ``path`` when it carries the
    current source's hash, else ``None`` (:data:`NOTE` says why)."""
    global NOTE
    if not path.exists():
        NOTE = f"{path.name} is not built (make setup, or {__name__}.build())"
        return None
    tag = f"rl-source-hash:{source_hash()}ULL".encode()
    try:
        if tag not in path.read_bytes():  # checked before loading: see rl_source_tag
            NOTE = f"{path.name} was built from another version of {SOURCE.name} (make setup)"
            return None
        lib = ctypes.CDLL(str(path))
        lib.rl_source_hash.restype = ctypes.c_uint64
        lib.rl_source_hash.argtypes = []
        if lib.rl_source_hash() != source_hash():
            NOTE = f"{path.name} was built from another version of {SOURCE.name} (make setup)"
            return None
        fn = lib.rl_accumulate
    except (OSError, AttributeError) as exc:
        NOTE = f"{path.name} failed to load: {exc}"
        return None
    fn.restype, fn.argtypes = ctypes.c_int, _ARGTYPES
    NOTE = None
    return fn


def load(path: Path | None = None):
    """The C kernel (the library at ``path``, default :data:`LIBRARY`) as a function with the
    numba kernel's signature (:func:`retention_lab.engines.kernels._accumulate_py`), or
    ``None`` (:data:`NOTE` says why)."""
    fn = _open(Path(LIBRARY if path is None else path))
    if fn is None:
        return None

    def accumulate_c(ids, ts, amount, lo, unit_per_day, limit, day0, periods, width,
                     state, money, bits, slot_from, slot_to, shift, scratch=None):
        """``ids``, ``ts``, ``amount``: arrays, or lists of arrays (chunks, counted in order).
        ``scratch``: a dict that keeps the bucketed-rows buffer from one call to the next."""
        chunks = _chunks(ids, ts, amount)
        n = sum(len(c[0]) for c in chunks)
        periods = np.ascontiguousarray(periods, dtype=np.int32)
        n_slots = state.shape[0]
        # the C code writes state, money and bits in place: they must be the Accumulator's own
        # C-contiguous arrays, big enough for every slot it may touch
        if not (state.dtype == np.int32 and state.shape == (n_slots, 3)
                and money.dtype == np.float64 and money.shape == (n_slots, 2)
                and bits.dtype == np.uint64
                and all(a.flags.c_contiguous and a.flags.writeable for a in (state, money, bits))
                and 0 <= slot_from and slot_to <= n_slots
                and bits.size * 64 >= n_slots * int(width)):
            raise ValueError("retention_lab.engines.native: arrays that do not fit the plan")
        scratch = {} if scratch is None else scratch
        if scratch.get("rows") is None or len(scratch["rows"]) < n * ROW_BYTES:
            scratch["rows"] = None  # the old buffer goes before the new one is allocated
            scratch["rows"] = np.empty(max(n, 1) * ROW_BYTES, np.uint8)
        k = len(chunks)
        pointers = [(_ptr * k)(*(c[j].ctypes.data for c in chunks)) for j in range(3)]
        lens = np.array([len(c[0]) for c in chunks], np.int64)
        status = fn(k, *pointers, lens.ctypes.data, int(lo), int(unit_per_day), int(limit),
                    int(day0), len(periods), periods.ctypes.data, int(width), state.ctypes.data,
                    money.ctypes.data, bits.ctypes.data, int(slot_from), int(slot_to),
                    int(shift), scratch["rows"].ctypes.data, len(scratch["rows"]) // ROW_BYTES)
        if status:
            raise RuntimeError(f"retention_lab.engines.native: {ERRORS.get(status, status)}")

    accumulate_c.source = "c"
    return accumulate_c


def _chunks(ids, ts, amount) -> list:
    """``[(ids, ts, amount), ...]`` as C-contiguous int64, int64, float64 arrays of equal
    lengths (no copy when they are already so, as Arrow's and DataFrames' columns are)."""
    if not isinstance(ids, (list, tuple)):
        ids, ts, amount = [ids], [ts], [amount]
    out = []
    for parts in zip(ids, ts, amount, strict=True):
        i, t, a = (np.ascontiguousarray(x, dtype=dt)
                   for x, dt in zip(parts, (np.int64, np.int64, np.float64)))
        if not (i.ndim == t.ndim == a.ndim == 1 and len(i) == len(t) == len(a)):
            raise ValueError("retention_lab.engines.native: ids, ts and amount do not match")
        out.append((i, t, a))
    return out
