"""The project's loopback model server (tests/model_servers.py) for the VS Code end-to-end test.

Prints `{"url": …}` once listening, then one `{"protocol", "model", "prompt"}` line per request;
it stops when its standard input closes. Each answer waits `--delay` seconds first, so the
editor's spinner can be seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tests"))

from model_servers import ModelServer, Seen

ANSWER = (
    "LOOPBACK ANSWER: `sys.argv[1:]` is the list of command-line arguments after the script name; "
    "printing it shows what the user passed."
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()

    def reply(seen: Seen) -> str:
        print(json.dumps({"protocol": seen.protocol, "model": seen.body.get("model"), "prompt": seen.prompt}), flush=True)
        time.sleep(args.delay)
        return ANSWER

    server = ModelServer(reply=reply).start()
    print(json.dumps({"url": server.url, "answer": ANSWER}), flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
