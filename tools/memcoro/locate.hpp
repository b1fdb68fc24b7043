#pragma once
/// \file
/// `memcoro locate`: prints which server owns each key, as a given client configuration would
/// place it. Used to check that memcoro and the other clients of a fleet agree, or to find the
/// server to look at for a key.
///
/// Build note: locate.cpp needs the ring library (memcoro_ring_dep) and lib/server_address.cpp
/// (both are part of memcoro_lib / memcoro_dep); it has no main of its own: the memcoro CLI's main
/// dispatches `memcoro locate ...` to locate_main.

#include <iosfwd>
#include <string>
#include <vector>

/// Runs `memcoro locate --servers LIST --distribution NAME [--hash NAME]`.
///
/// `args` are the arguments after the word `locate` (`--opt value` or `--opt=value`). LIST is
/// `host:port[:weight][ name]`, comma-separated (twemproxy's form). Keys are read from `in`, one
/// per line: every byte up to '\n' is the key, nothing else is stripped (not even a '\r'), and
/// an empty line is the empty key. For each key one line is written to `out`: the owning
/// server's name if it has one, else its `host:port`. `--help` prints the usage to `out`.
///
/// Returns 0 on success, 2 with a one-line message on `err` for bad arguments.
int locate_main(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err);
