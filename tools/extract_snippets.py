#!/usr/bin/env python3
"""Turns the ```cpp blocks of a Markdown page into C++ that the build compiles, so that the
page cannot show code that does not compile.

  extract_snippets.py program PAGE OUT    the page's first block, as it is (a whole program)
  extract_snippets.py fragments PAGE OUT  every block, each in a function of its own, with
                                          `executor` and `cfg` in scope (compiled, never run);
                                          a block's leading #include lines go to the top; a
                                          block that starts with a declaration (struct, class,
                                          template, namespace) stays at namespace scope
  extract_snippets.py listed ROOT PAGE...  fails unless README.md and every docs/*.md page
                                          with a C++ block is among the PAGEs (paths from ROOT)
"""
import os
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
    mode = sys.argv[1]
    if mode == "listed":
        root, listed = sys.argv[2], set(sys.argv[3:])
        pages = ["README.md"] + sorted("docs/" + p for p in os.listdir(os.path.join(root, "docs"))
                                       if p.endswith(".md"))
        missing = []
        for p in pages:
            with open(os.path.join(root, p), encoding="utf-8") as f:
                if blocks(f.read()) and p not in listed:
                    missing.append(p)
        if missing:
            sys.exit("C++ blocks in pages the build does not compile: " + ", ".join(missing))
        print(f"{len(listed)} pages with C++ blocks, all compiled")
        return
    page, out = sys.argv[2:4]
    with open(page, encoding="utf-8") as f:
        found = blocks(f.read())
    if not found:
        sys.exit(f"{page}: no ```cpp block")
    name = page.split("/")[-1]
    if mode == "program":
        code = f"// Generated from {name}'s first C++ block: edit it there.\n" + found[0]
    elif mode == "fragments":
        code = f"// Generated from the C++ blocks of {name}: edit them there.\n" + FRAGMENT_PRELUDE
        includes = ""
        for i, block in enumerate(found, 1):
            lines = block.splitlines(keepends=True)
            while lines and lines[0].startswith("#include"):
                includes += lines.pop(0)
            if lines and re.match(r"(struct|class|template|namespace)\b", lines[0]):
                # Declarations (a codec's specialization, a type): at namespace scope.
                code += f"\n// {name}, block {i}\n" + "".join(lines)
                continue
            body = "".join("        " + line if line.strip() else line for line in lines)
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
        code = code.replace(FRAGMENT_PRELUDE, FRAGMENT_PRELUDE + includes, 1)
    else:
        sys.exit(f"unknown mode {mode}")
    with open(out, "w", encoding="utf-8") as f:
        f.write(code)


if __name__ == "__main__":
    main()
