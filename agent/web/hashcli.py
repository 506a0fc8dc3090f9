"""``classroom-agent hash-password``: make a ``web.password_hash`` for basic auth."""

from __future__ import annotations

import argparse
import getpass
import sys


def cmd_hash_password(args: argparse.Namespace) -> int:
    from agent.web.credentials import DEFAULT_ITERATIONS, hash_password

    if args.iterations and not 1000 <= args.iterations <= 10_000_000:
        print("--iterations must be between 1000 and 10000000", file=sys.stderr)
        return 2
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("passwords do not match", file=sys.stderr)
            return 2
    if len(password) < 8:
        print("password too short: use at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password, args.iterations or DEFAULT_ITERATIONS))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sp = subparsers.add_parser(
        "hash-password",
        help="hash a password for web.password_hash (basic auth on the local web pages)",
    )
    sp.add_argument("--stdin", action="store_true", help="read the password from stdin")
    sp.add_argument("--iterations", type=int, default=0, help="pbkdf2 iterations")
    sp.set_defaults(func=cmd_hash_password)
