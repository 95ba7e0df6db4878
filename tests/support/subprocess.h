// Runs a program as a separate OS process and captures its output: the tests that prove
// replay needs nothing from the recording machine run the replay in a process with its
// own environment and working directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace snap::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::filesystem::path working_directory;  // empty: inherit
  // nullopt: inherit the environment; otherwise exactly these variables (an empty map
  // is a cleared environment).
  std::optional<std::map<std::string, std::string>> environment;
  // Written to the child's stdin, which is then closed (at most a pipe's buffer, 64 KiB).
  // nullopt: stdin is /dev/null.
  std::optional<std::string> input;
  // Keep stdin open after `input`, for ChildProcess::write_input() (a conversation).
  bool keep_input_open = false;
};

// A running child with its stdout and stderr captured.
class ChildProcess {
 public:
  // Starts argv[0] (a path). Throws std::runtime_error if it cannot.
  ChildProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});
  // Kills a child still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until stdout contains `text` or `timeout` passes (a bound for a hung
  // child, not a synchronisation delay); true if it appeared.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);
  void send_signal(int sig);
  // With keep_input_open: writes to the child's stdin; close_input() ends it.
  void write_input(const std::string& text);
  void close_input();
  // Reads to the end and reaps the child.
  ProcessResult wait();

 private:
  bool pump(int timeout_ms);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int in_fd_ = -1;
  ProcessResult result_;
};

// Runs the program to completion.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace snap::testing
