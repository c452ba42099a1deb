"""Every form `gk.fit` takes, as a gradkit `Dataset`: a gradkit Dataset as it is, a pandas
DataFrame (frames.py), a Hugging Face or torch data set (torchdata.py), arrays (arrays.py)."""
from __future__ import annotations

from typing import Any

from gradkit.data.arrays import from_arrays
from gradkit.data.base import Dataset
from gradkit.data.frames import from_dataframe
from gradkit.data.torchdata import from_hf, from_torch, is_hf_dataset, is_torch_data
from gradkit.errors import DataError


def as_dataset(x: Any, y: Any = None, *, target: str | None = None,
               columns: tuple[str, str] | None = None, **kwargs: Any) -> Dataset:
    """Any of the forms gk.fit takes -> a `Dataset`: a gradkit Dataset as it is, a DataFrame
    (with `target`), a torch Dataset or DataLoader, else arrays (`from_arrays`)."""
    if isinstance(x, Dataset):
        if y is not None:
            raise DataError("x is a gradkit Dataset, which holds its labels: drop y")
        return x
    if type(x).__name__ == "DataFrame" and hasattr(x, "columns"):
        kwargs.pop("kind", None)
        kwargs.pop("options", None)
        return from_dataframe(x, target, **kwargs)
    if target is not None:
        raise DataError("target= names a DataFrame's label column; x is not a DataFrame")
    if is_hf_dataset(x):
        return from_hf(x, columns, **kwargs)
    if is_torch_data(x):
        if y is not None:
            raise DataError("x is a torch Dataset or DataLoader, whose items hold their labels: drop y")
        return from_torch(x, columns=columns, **kwargs)
    return from_arrays(x, y, **kwargs)
