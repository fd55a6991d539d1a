"""``python -m eventlens``: the same as the ``eventlens`` command."""

from eventlens.cli import main

if __name__ == "__main__":
    main(prog_name="eventlens")
