#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace snap::testing {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  if (options.environment) {
    for (const auto& [k, v] : *options.environment) env_storage.push_back(k + "=" + v);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // The test runner may block signals (gtest does not, but be safe): the child starts clean.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.input || options.keep_input_open) {
      dup2(in_pipe[0], 0);
    } else {
      const int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
    }
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!options.working_directory.empty() && chdir(options.working_directory.c_str()) != 0) _exit(126);
    if (options.environment) {
      execve(args[0], args.data(), envp.data());
    } else {
      execv(args[0], args.data());
    }
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  in_fd_ = in_pipe[1];
  if (options.input) write_input(*options.input);
  if (!options.keep_input_open) close_input();
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
}

void ChildProcess::write_input(const std::string& text) {
  std::size_t done = 0;
  while (in_fd_ >= 0 && done < text.size()) {
    const ssize_t n = write(in_fd_, text.data() + done, text.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

void ChildProcess::close_input() {
  if (in_fd_ >= 0) close(in_fd_);
  in_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  close_input();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    wait();
  }
}

// Reads whatever is available within timeout_ms; false once both pipes are closed.
bool ChildProcess::pump(int timeout_ms) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  std::string* sinks[2] = {&result_.out, &result_.err};
  if (out_fd_ < 0 && err_fd_ < 0) return false;
  const int n = poll(fds, 2, timeout_ms);
  if (n <= 0) return true;
  char buf[65536];
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t got = read(fds[i].fd, buf, sizeof buf);
    if (got > 0) {
      sinks[i]->append(buf, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      close(fds[i].fd);
      (i == 0 ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

bool ChildProcess::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (result_.out.find(text) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!pump(static_cast<int>(left.count()))) return result_.out.find(text) != std::string::npos;
  }
  return true;
}

void ChildProcess::send_signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

ProcessResult ChildProcess::wait() {
  while (pump(-1)) {
  }
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result_.signal = WTERMSIG(status);
    pid_ = -1;
  }
  return result_;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  ChildProcess child(argv, options);
  return child.wait();
}

}  // namespace snap::testing
