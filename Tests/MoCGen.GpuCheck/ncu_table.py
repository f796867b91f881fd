#!/usr/bin/env python3
"""Prints one line per kernel from the CSV that Nsight Compute writes in run-on-gpu.sh

    ncu --csv --print-units base --metrics gpu__time_duration.sum,dram__bytes_read.sum,... ./mocgen-gpucheck --bench

(one row per kernel launch and metric: "Kernel Name", "Metric Name", "Metric Unit", "Metric Value", ...): its time,
the DRAM bytes it moved and at what rate, that rate as ncu's fraction of peak, registers a thread and achieved
occupancy. Usage: python3 ncu_table.py ncu.csv. Exit 0 with the table; 2 when the file has no such rows (the reason,
often a permission message from ncu, is in ncu.err beside it).
"""
import csv
import sys

METRICS = {
    "gpu__time_duration.sum": "time",
    "dram__bytes_read.sum": "read",
    "dram__bytes_write.sum": "written",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "dram_pct",
    "launch__registers_per_thread": "registers",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "occupancy_pct",
}

# --print-units base gives nanoseconds and bytes; the scales let a report printed without it be read as well.
SCALE = {"nsecond": 1e-9, "usecond": 1e-6, "msecond": 1e-3, "second": 1.0,
         "byte": 1.0, "kbyte": 1e3, "mbyte": 1e6, "gbyte": 1e9}


def number(text):
    return float(text.replace(",", ""))


def rows(path):
    """The kernels' metrics, in first-seen order: {(id, kernel): {key: value in seconds, bytes or as printed}}."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu prefixes the CSV with its own ==PROF== lines
    kernels = {}
    for row in csv.DictReader(lines):
        key = METRICS.get(row.get("Metric Name", ""))
        if key is None:
            continue
        try:
            value = number(row["Metric Value"])
        except (KeyError, ValueError):
            continue
        value *= SCALE.get(row.get("Metric Unit", "").lower(), 1.0)
        kernels.setdefault((row.get("ID", ""), row.get("Kernel Name", "?")), {})[key] = value
    return kernels


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    kernels = rows(argv[1])
    if not kernels:
        print(f"ncu_table.py: no kernel metrics in {argv[1]}")
        return 2
    print(f"{'kernel':<48} {'time us':>10} {'DRAM MB':>10} {'GB/s':>8} {'% peak':>7} {'regs':>5} {'occupancy %':>11}")
    for (_, name), m in kernels.items():
        seconds = m.get("time")
        moved = m.get("read", 0.0) + m.get("written", 0.0)
        rate = f"{moved / seconds / 1e9:8.0f}" if seconds else f"{'-':>8}"
        time_us = f"{seconds * 1e6:10.1f}" if seconds is not None else f"{'-':>10}"
        pct = f"{m['dram_pct']:7.1f}" if "dram_pct" in m else f"{'-':>7}"
        regs = f"{m['registers']:5.0f}" if "registers" in m else f"{'-':>5}"
        occ = f"{m['occupancy_pct']:11.1f}" if "occupancy_pct" in m else f"{'-':>11}"
        print(f"{name[:48]:<48} {time_us} {moved / 1e6:10.1f} {rate} {pct} {regs} {occ}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
