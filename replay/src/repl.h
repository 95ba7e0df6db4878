// The dev-mode REPL: reads command lines, runs the app's command personas beside the
// daemons, and asks the process to stop at `exit` or end of input.
#pragma once

#include <istream>
#include <ostream>

#include "snap/app.h"

namespace snap {

// Runs until `exit`/`quit` or end of input; returns the last command's status. With a
// terminal on stdin (and `in` == std::cin) it uses libedit for line editing and history.
int run_repl(App& app, std::istream& in, std::ostream& out);

// Splits a command line into words: whitespace separates, "..." and '...' group, and a
// backslash escapes the next character. Throws UsageError for an unterminated quote.
std::vector<std::string> split_command_line(std::string_view line);

}  // namespace snap
