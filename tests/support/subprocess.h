// Runs a program as a separate OS process and captures its output: the tests that prove
// replay needs nothing from the recording machine run the replay in a process with its
// own environment and working directory.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace snap::testing {

struct ProcessResult {
  int exit_code = -1;   // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::filesystem::path working_directory;  // empty: inherit
  // nullopt: inherit the environment; otherwise exactly these variables (empty map:
  // a cleared environment).
  std::optional<std::map<std::string, std::string>> environment;
};

// Runs argv[0] (a path) with argv and waits for it. Throws std::runtime_error if it cannot start.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace snap::testing
