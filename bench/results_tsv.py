"""The benchmarks' results files (the C++ programs' and scripts' --results):
one `kind<TAB>key<TAB>value` line per number, read back as
{(kind, key): value}. A line of another shape, or a value that is not a
number, ends the program with an error naming the file and line (exit
status 1)."""


def read(path):
    values = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise SystemExit(f"{path}:{number}: expected 3 tab-separated fields, "
                                 f"found {len(fields)}")
            try:
                values[(fields[0], fields[1])] = float(fields[2])
            except ValueError:
                raise SystemExit(f"{path}:{number}: '{fields[2]}' is not a number")
    return values
