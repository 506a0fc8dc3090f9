"""``classroom-agent simulate <device> ...``: run device emulators on their own.

This module owns the ``simulate`` subcommand; each device class adds its own
sub-subcommand. To add one, write a module with ``add_simulator(subparsers)`` (it calls
``subparsers.add_parser("tablets", ...)`` and ``set_defaults(func=...)``) and list it in
``SIMULATORS``. Keep imports inside the command functions so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib

# Modules providing ``add_simulator(subparsers)``.
SIMULATORS: list[str] = [
    "drivers.emulators.cli",  # simulate panel
    "drivers.emulators.tablets",  # simulate tablets
]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("simulate", help="run a device emulator on its own",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="simulator", required=True, metavar="DEVICE")
    for name in SIMULATORS:
        importlib.import_module(name).add_simulator(sub)
