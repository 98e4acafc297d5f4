"""Runs the ```python blocks of a Markdown page, in order, in one namespace
(so a later block uses what an earlier one defined), from the current
directory (the source root, so "examples/..." paths work). A failing block
is reported at its Markdown line. Used by the tests docs.python.<page>.

    /usr/bin/python3 tests/docs/run_python_blocks.py docs/python.md
"""
import re
import sys
import traceback


def blocks(text):
    """(first line, code) of every ```python block."""
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        yield text.count("\n", 0, m.start()) + 2, m.group(1)


def main(path):
    text = open(path, encoding="utf-8").read()
    namespace = {"__name__": "__main__"}
    count = 0
    for line, code in blocks(text):
        # Line numbers of tracebacks are those of the Markdown page.
        compiled = compile("\n" * (line - 1) + code, path, "exec")
        try:
            exec(compiled, namespace)
        except Exception:
            traceback.print_exc()
            print("%s:%d: the python block starting here failed" % (path, line), file=sys.stderr)
            return 1
        count += 1
    if count == 0:
        print("%s: no python blocks" % path, file=sys.stderr)
        return 1
    print("%s: %d python blocks ran" % (path, count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
