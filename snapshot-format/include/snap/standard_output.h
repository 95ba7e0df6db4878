// Finishing a command's standard output. Output lost to a full disk, a quota or
// /dev/full must fail the command, not exit 0 with nothing written: every command-line
// entry point (the `snapshot` tool, a program's run_program) ends with this check.
//
// Thread safety: call from one thread, once every writer of std::cout has finished.
#pragma once

#include <optional>
#include <string>

namespace snap {

// Flushes std::cout and C's stdout. nullopt when everything written so far reached the
// file; otherwise why it did not ("No space left on device").
std::optional<std::string> flush_standard_output();

// `status`, unless standard output could not be written: then `program: cannot write
// standard output: REASON` on stderr, and 1 (or `status` when it already is an error).
int finish_standard_output(const std::string& program, int status);

}  // namespace snap
