"""`python -m reactor` is the `reactor` command."""

from reactor.cli.main import main

if __name__ == "__main__":
    main()
