"""Save and load fitted CLV models as JSON.

``model.save(path)`` writes one JSON document; ``Fitter.load(path)`` or
:func:`load_model` rebuilds the fitted model so that every prediction is bit-for-bit the one of
the saved model. The document holds, readable by people and other tools:

* ``class`` (the fitter's import path), ``model`` (its name) and the ``reference``;
* ``params`` (natural scale), ``covariance`` (``variance_matrix_``), ``covariance_log``
  (``variance_matrix_log_``, the one the parametric bootstrap draws from), ``summary``;
* ``time_unit_days`` — the length of the fitted data's time unit in days (``null`` when
  unknown), so CLV keeps its units after a reload;
* ``state`` — the fitter's complete attribute dictionary (penalizer, data ranges for the
  matrices, covariate levels, …), each value tagged with its type (ndarray, Series, DataFrame,
  non-finite float) so that it comes back with the same dtype and index.

Floats are written with ``repr`` precision (Python's shortest round-tripping form), so a
reload reproduces them exactly; non-finite floats are tagged, so the file is standard JSON
(no ``NaN`` tokens). Only classes defined inside :mod:`retention_lab` are loaded. Any fitted
model of the package can be saved with :func:`save_model` — the ``BaseFitter`` ones also by
``model.save(path)`` — including ones that hold package helper objects (their attributes are
saved the same way).
"""
from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__

FORMAT = "retention_lab.clv.model"
VERSION = 1


# ---------------------------------------------------------------------------- encoding
def _float(v: float):
    v = float(v)
    if math.isfinite(v):
        return v
    return {"__float__": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}


def _encode(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return _float(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return {"__timestamp__": pd.Timestamp(value).isoformat()}
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return {"__timedelta__": pd.Timedelta(value).isoformat()}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            data = [_encode(v) for v in value.ravel().tolist()]
        elif value.dtype.kind == "f":
            data = [_float(v) for v in value.ravel().tolist()]
        else:
            data = value.ravel().tolist()
        return {"__ndarray__": data, "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, pd.Index):
        return {"__index__": _encode_index(value)}
    if isinstance(value, pd.Series):
        return {"__series__": {"index": _encode_index(value.index),
                               "values": _encode(value.to_numpy()),
                               "name": _encode(value.name), "attrs": _encode(dict(value.attrs))}}
    if isinstance(value, pd.DataFrame):
        return {"__dataframe__": {"index": _encode_index(value.index),
                                  "columns": _encode_index(value.columns),
                                  "columns_data": [_encode(value[c].to_numpy())
                                                   for c in value.columns],
                                  "attrs": _encode(dict(value.attrs))}}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"__items__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if hasattr(value, "__dict__") and type(value).__module__.startswith("retention_lab."):
        # a helper object of the package (e.g. a prepared data bundle): its attributes
        cls = type(value)
        return {"__object__": f"{cls.__module__}.{cls.__qualname__}",
                "state": {k: _encode(v) for k, v in value.__dict__.items()}}
    raise TypeError(f"cannot save a value of type {type(value).__name__}")


def _encode_index(index: pd.Index):
    return {"values": _encode(np.asarray(index.to_numpy())), "name": _encode(index.name)}


def _decode_index(d) -> pd.Index:
    return pd.Index(_decode(d["values"]), name=_decode(d["name"]))


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__timestamp__" in value:
        return pd.Timestamp(value["__timestamp__"])
    if "__timedelta__" in value:
        return pd.Timedelta(value["__timedelta__"])
    if "__ndarray__" in value:
        data = [_decode(v) for v in value["__ndarray__"]]
        dtype = value["dtype"]
        arr = np.array(data, dtype=object if dtype == "object" else dtype)
        return arr.reshape(value["shape"])
    if "__index__" in value:
        return _decode_index(value["__index__"])
    if "__series__" in value:
        d = value["__series__"]
        out = pd.Series(_decode(d["values"]), index=_decode_index(d["index"]),
                        name=_decode(d["name"]))
        out.attrs.update(_decode(d["attrs"]))
        return out
    if "__dataframe__" in value:
        d = value["__dataframe__"]
        columns = _decode_index(d["columns"])
        out = pd.DataFrame({i: _decode(c) for i, c in enumerate(d["columns_data"])},
                           index=_decode_index(d["index"]))
        out.columns = columns
        out.attrs.update(_decode(d["attrs"]))
        return out
    if "__items__" in value:
        return {_hashable(_decode(k)): _decode(v) for k, v in value["__items__"]}
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__object__" in value:
        obj = object.__new__(_package_class(value["__object__"]))
        obj.__dict__.update(_decode(value["state"]))
        return obj
    return {k: _decode(v) for k, v in value.items()}


def _package_class(path: str) -> type:
    """The class at ``path`` — only classes defined inside :mod:`retention_lab` are loaded."""
    module_name, _, cls_name = str(path).rpartition(".")
    if not module_name.startswith("retention_lab."):
        raise ValueError(f"refusing to load class {path!r}: only retention_lab models")
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"{path!r} is not a class of retention_lab")
    return cls


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name!r}")


# ---------------------------------------------------------------------------- public API
def model_to_dict(model) -> dict:
    """The JSON-ready document of a fitted model (see the module docstring)."""
    if not hasattr(model, "params_"):
        raise RuntimeError(f"{type(model).__name__} is not fitted: nothing to save")
    cls = type(model)
    return {
        "format": FORMAT,
        "version": VERSION,
        "retention_lab_version": __version__,  # recorded for provenance
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "model": getattr(model, "_model_name", cls.__name__),
        "reference": getattr(model, "_reference", ""),
        "params": {str(k): _float(v) for k, v in model.params_.items()},
        "covariance": _encode(getattr(model, "variance_matrix_", None)),
        "covariance_log": _encode(getattr(model, "variance_matrix_log_", None)),
        "summary": _encode(getattr(model, "summary", None)),
        "time_unit_days": _encode(getattr(model, "time_unit_", None)),
        "log_likelihood": _float(getattr(model, "log_likelihood_", float("nan"))),
        "state": _encode_state(model),
    }


def _encode_state(model) -> dict:
    state = {}
    for name, value in model.__dict__.items():
        try:
            state[name] = _encode(value)
        except TypeError as exc:
            raise TypeError(f"{type(model).__name__}.{name}: {exc}") from exc
    return state


def model_from_dict(doc: dict):
    """Rebuild a fitted model from :func:`model_to_dict`'s document."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a saved retention_lab CLV model (format {doc.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if int(doc.get("version", 0)) > VERSION:
        raise ValueError(f"saved with a newer format version {doc['version']} (this package "
                         f"reads up to {VERSION})")
    model = object.__new__(_package_class(doc["class"]))
    model.__dict__.update(_decode(doc["state"]))
    return model


def save_model(model, path) -> Path:
    """Write ``model`` to ``path`` as JSON; returns the path."""
    path = Path(path)
    text = json.dumps(model_to_dict(model), indent=1, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def load_model(path):
    """Read a model written by :func:`save_model` (any fitter class)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return model_from_dict(doc)


class PersistenceMixin:
    """``save(path)`` and ``load(path)`` for the fitters."""

    def save(self, path) -> Path:
        """Save the fitted model (parameters, covariance, time unit, state) as JSON."""
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`; it must be an instance of this class."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
