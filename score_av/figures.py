"""Pictures the tool draws (the report, model comparisons): matplotlib off-screen, files written whole."""
from __future__ import annotations

import os
from pathlib import Path


def pyplot():
    """matplotlib's pyplot drawing off-screen (no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, out: str | os.PathLike, **savefig) -> Path:
    """Write `fig` whole or not at all (a temporary name, then a rename), and close it."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        fig.savefig(tmp, **savefig)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out
