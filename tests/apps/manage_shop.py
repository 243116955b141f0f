"""A ``manage.py``-style wrapper, as many applications have: ``python manage_shop.py runserver PORT`` calls
``uvicorn.run`` itself, so its frames sit above every request handler's on the stack."""

from __future__ import annotations

import sys

import uvicorn


def runserver(port: str) -> None:
    uvicorn.run("tests.apps.shop_errors:app", host="127.0.0.1", port=int(port), log_level="warning",
                access_log=False)


COMMANDS = {"runserver": runserver}


def main() -> None:
    COMMANDS[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
