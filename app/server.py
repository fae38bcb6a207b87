"""The `rosetta ui` process: Streamlit's server, with the model loaded and the store opened at
start-up rather than on the first visit (which took 14–18 s).

A thread waits for the Streamlit runtime, then fills the same `st.cache_resource` entries the
pages use (they are process-wide), so the first query is as fast as any other; a visitor who
arrives during warm-up waits on the cache's lock behind the spinner that says what is loading.
"""

from __future__ import annotations

import sys
import threading
import time

WARM_TIMEOUT_S = 60.0  # give up waiting for the runtime (it would mean the server did not start)


def warm_up() -> None:
    from streamlit.runtime import Runtime

    deadline = time.monotonic() + WARM_TIMEOUT_S
    while not Runtime.exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
    started = time.perf_counter()
    print("rosetta: loading the model and opening the store…", file=sys.stderr, flush=True)
    try:
        from app import ui_common as ui
        from rosetta.langid import detect_query

        cfg = ui.settings()
        ui.get_store(cfg)
        encoder = ui.get_encoder(cfg)
        encoder.encode_queries(["warm-up"])  # first call builds kernels and caches
        detect_query("warm up the word lists")
    except Exception as exc:  # the pages report the same problem to the user, in words
        print(
            f"rosetta: warm-up failed ({exc}); the first visit will show the error",
            file=sys.stderr,
            flush=True,
        )
        return
    print(f"rosetta: ready in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def main() -> None:
    """`python -m app.server <streamlit run arguments>`."""
    threading.Thread(target=warm_up, name="rosetta-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
