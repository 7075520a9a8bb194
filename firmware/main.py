"""bitmesh firmware entry point (the board runs this after boot.py).

Everything lives in lib/ (compiled to .mpy by ``bitmesh build``); this file
stays source so it can be read and edited on the board. Ctrl-C stops the node
and returns to the REPL, so mpremote can always redeploy.
"""

import sys

if "lib" not in sys.path:
    sys.path.append("lib")  # the unix port (virtual boards) runs from the board dir


def main() -> None:
    from shell import Shell

    sh = Shell()
    try:
        sh.setup()
        sh.run()
    except KeyboardInterrupt:
        sh.on_interrupt()
        raise


main()
