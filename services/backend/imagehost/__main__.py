"""`python -m imagehost`: read the settings, then run the supervisor and its workers."""

import sys

from .config import ConfigError, load_config
from .supervisor import main


def run() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"imagehost: configuration error: {exc}", file=sys.stderr)
        return 2
    return main(config)


if __name__ == "__main__":
    sys.exit(run())
