#!/usr/bin/env python3
"""Turns the ```cpp blocks of a Markdown page into C++ that the build compiles, so that the
page cannot show code that does not compile.

  extract_snippets.py program PAGE OUT    the page's first block, as it is (a whole program)
  extract_snippets.py fragments PAGE OUT  every block, each in a function of its own, with
                                          `executor` and `cfg` in scope (compiled, never run)
"""
import re
import sys

FRAGMENT_PRELUDE = """\
#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>

#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <iostream>
#include <memory>
"""


def blocks(text):
    return re.findall(r"^```cpp\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def main():
    mode, page, out = sys.argv[1:4]
    with open(page, encoding="utf-8") as f:
        found = blocks(f.read())
    if not found:
        sys.exit(f"{page}: no ```cpp block")
    name = page.split("/")[-1]
    if mode == "program":
        code = f"// Generated from {name}'s first C++ block: edit it there.\n" + found[0]
    elif mode == "fragments":
        code = f"// Generated from the C++ blocks of {name}: edit them there.\n" + FRAGMENT_PRELUDE
        for i, block in enumerate(found, 1):
            body = "".join("        " + line if line.strip() else line
                           for line in block.splitlines(keepends=True))
            code += (f"\n// {name}, block {i}\n"
                     f"[[maybe_unused]] void snippet_{i}(asio::any_io_executor executor,\n"
                     f"                                  memcoro::client_config& cfg)\n"
                     "{\n"
                     "    (void)executor;\n"
                     "    (void)cfg;\n"
                     "    {\n"
                     f"{body}"
                     "    }\n"
                     "}\n")
    else:
        sys.exit(f"unknown mode {mode}")
    with open(out, "w", encoding="utf-8") as f:
        f.write(code)


if __name__ == "__main__":
    main()
