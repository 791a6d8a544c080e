"""The soak's plot: RSS, open fds, allocations and CPU over time, one panel
each, drawn from the CSV rows with Debian's python3-matplotlib."""
import matplotlib

matplotlib.use("Agg")  # no display: write the PNG only
import matplotlib.pyplot as plt  # noqa: E402


def _num(rows, key):
    return [float(r[key]) if r[key] not in (None, "") else float("nan") for r in rows]


def plot(rows, path, title):
    ts = _num(rows, "t")
    panels = [
        ("RSS (MiB)", [(v / 1024 if v == v else v) for v in _num(rows, "rss_kib")], "daemon"),
        ("open fds", _num(rows, "fds"), "daemon"),
        ("allocations", _num(rows, "allocations"), "live (/metrics)"),
        ("CPU (% of a core)", _num(rows, "cpu_pct"), "daemon"),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 9), sharex=True)
    for ax, (label, ys, legend) in zip(axes, panels):
        ax.plot(ts, ys, linewidth=0.9, label=legend)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[3].plot(ts, _num(rows, "loadgen_cpu_pct"), linewidth=0.7, alpha=0.7,
                 label="load generators")
    axes[3].legend(loc="upper right", fontsize=8)
    # Shade what is not judged load (baseline, set-up, warm-up, release, cool-down).
    for ax in axes:
        start = None
        for r, t in zip(rows + [None], ts + [None]):
            idle = r is not None and r["phase"] != "load"
            if idle and start is None:
                start = t
            elif not idle and start is not None:
                ax.axvspan(start, t if t is not None else ts[-1], color="grey", alpha=0.15)
                start = None
    axes[-1].set_xlabel("seconds (grey: not judged: baseline, set-up, warm-up, release, "
                        "cool-down)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
