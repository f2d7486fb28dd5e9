"""``python -m emoedge``: the same CLI as the ``emoedge`` command."""

from .cli import main

if __name__ == "__main__":
    main()
