// Running a program's personas as separate processes on this host, as a `--local` build
// is run: build it once into a temporary directory, then `run PERSONA` as many child
// processes as a test needs, each with an environment of the test's choosing. Everything
// started is stopped, and the directory removed, when the LocalBuild goes -- also when a
// test fails -- and a child dies with the test process if that is killed (a crash, a
// ctest timeout) instead of being left running.
//
// Also here: what such tests need around those processes -- free, closed and silent
// loopback ports, and a raw HTTP exchange for requests with headers of the test's own.
// Only 127.0.0.1 is ever used.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace snap::testing {

// A child process whose stdout and stderr go to files (nothing has to keep reading them
// for the child to make progress; they can be read at any time).
class BackgroundProcess {
 public:
  // Starts argv[0] (a path) with exactly `environment`, in `working_directory` (empty:
  // inherited); output goes to OUTPUT_DIR/NAME.out and NAME.err. Throws std::runtime_error
  // if it cannot fork; a program that cannot be executed exits with status 127.
  BackgroundProcess(std::string name, const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& environment, const std::filesystem::path& output_dir,
                    const std::filesystem::path& working_directory = {});
  // stop() with its default bound.
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  // Reaps the child if it has exited; true while it runs.
  bool running();
  // Waits (bounded) for the child to exit on its own; true once it has.
  bool wait_for_exit(std::chrono::milliseconds bound);
  // SIGTERM, then waits up to `bound` for it to exit, then SIGKILL (and waits for that).
  // True when it exited within the bound. Does nothing if it has exited already.
  bool stop(std::chrono::milliseconds bound = std::chrono::seconds(10));
  void send_signal(int sig);

  // After exit: the exit code, or nullopt when it has not exited or was killed by a signal.
  std::optional<int> exit_code() const;
  // "running", "exited with status N", "killed by signal N".
  std::string status() const;

  // Everything written so far.
  std::string out() const;
  std::string err() const;
  // Name, pid, status, stdout and stderr: for failure messages.
  std::string describe() const;

 private:
  std::string name_;
  std::filesystem::path out_path_, err_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// A `--local` build of a snapshot program in a temporary directory of its own, and the
// personas it runs. The build inherits this process's environment, so $XDG_STATE_HOME
// (which ctest sets for every test) decides where --local builds record their ports: tests
// building at the same time get different numbers.
class LocalBuild {
 public:
  // Runs `program build --out DIR --local` (bounded). Throws std::runtime_error with the
  // build's output if it fails.
  explicit LocalBuild(std::string program);
  // Stops every process started through it (in reverse order), then removes the directory.
  ~LocalBuild();
  LocalBuild(const LocalBuild&) = delete;
  LocalBuild& operator=(const LocalBuild&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path log() const { return dir_ / "out" / "snapshot.snaplog"; }
  // The number the build gave a snap::Port ("APP.server.port"), from state/build-state.json.
  unsigned short port(const std::string& port_id) const;

  // The environment a persona starts with: this process's, less what would reach into
  // the test from outside (OTEL_*, PERSONA, SNAP_LOG, SNAP_JOB_RUNS, SNAP_SECRETS_DIR),
  // plus `extra`.
  static std::map<std::string, std::string> environment(const std::map<std::string, std::string>& extra);

  // Starts `program run PERSONA --log LOG` with environment(extra), its output in the
  // build's directory under `label` (default: the persona). Owned by the build.
  BackgroundProcess& start(const std::string& persona, const std::map<std::string, std::string>& extra = {},
                           const std::string& label = "");
  // Polls GET http://127.0.0.1:PORT/healthz until it answers 200 (bounded). Throws
  // std::runtime_error with the process's output if it exits first or time runs out.
  static void wait_healthy(BackgroundProcess& process, unsigned short port,
                           std::chrono::milliseconds bound = std::chrono::seconds(30));
  // describe() of every process started through it (for failure messages).
  std::string describe() const;

 private:
  std::string program_;
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<BackgroundProcess>> processes_;
};

// A port of 127.0.0.1 free when this returns (bound to port 0, then closed): another
// process may still take it before the caller binds it.
unsigned short free_loopback_port();

// A port of 127.0.0.1 where nothing accepts connections while this object lives: bound
// (so no other process can take it) but not listening, so connecting is refused at once.
class ClosedLoopbackPort {
 public:
  ClosedLoopbackPort();
  ~ClosedLoopbackPort();
  ClosedLoopbackPort(const ClosedLoopbackPort&) = delete;
  ClosedLoopbackPort& operator=(const ClosedLoopbackPort&) = delete;
  unsigned short port() const { return port_; }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// A port of 127.0.0.1 that takes connections and never answers: listening, but nothing
// ever accepts, so the kernel completes a client's connect and takes its request into the
// backlog, and the client waits for a response that never comes -- a hung collector.
// Closing it (the destructor) resets the connections still queued.
class SilentLoopbackPort {
 public:
  SilentLoopbackPort();
  ~SilentLoopbackPort();
  SilentLoopbackPort(const SilentLoopbackPort&) = delete;
  SilentLoopbackPort& operator=(const SilentLoopbackPort&) = delete;
  unsigned short port() const { return port_; }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// One HTTP exchange with 127.0.0.1:PORT exactly as written: `request` is sent as it is
// (it should say "Connection: close"), and everything is read until the server closes.
// Throws std::runtime_error when the exchange does not finish within `bound`.
struct RawHttpReply {
  int status = 0;       // from the status line; 0 when there is none
  std::string head;     // the status line and headers
  std::string body;     // what follows the blank line, as received
};
RawHttpReply raw_http_exchange(unsigned short port, const std::string& request,
                               std::chrono::milliseconds bound = std::chrono::seconds(10));

}  // namespace snap::testing
