#include "local_run.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>

extern char** environ;

namespace snap::testing {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(20);
// Bounds for a broken or hung program, not waits: the loops end as soon as it is done.
constexpr auto kBuildBound = std::chrono::seconds(60);
constexpr auto kKillBound = std::chrono::seconds(10);

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

std::filesystem::path unique_temp_dir(const std::string& prefix) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / (prefix + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir;
}

sockaddr_in loopback(unsigned short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A socket bound to 127.0.0.1 on a port the kernel picks; returns the descriptor and port.
std::pair<int, unsigned short> bind_loopback_any() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("no free port on 127.0.0.1: " + error);
  }
  return {fd, ntohs(a.sin_port)};
}

}  // namespace

// ---- BackgroundProcess ----

BackgroundProcess::BackgroundProcess(std::string name, const std::vector<std::string>& argv,
                                     const std::map<std::string, std::string>& environment,
                                     const std::filesystem::path& output_dir,
                                     const std::filesystem::path& working_directory)
    : name_(std::move(name)), out_path_(output_dir / (name_ + ".out")), err_path_(output_dir / (name_ + ".err")) {
  // Everything the child needs is made before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> arg_storage = argv;
  std::vector<char*> args;
  for (auto& a : arg_storage) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (const auto& [k, v] : environment) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out = out_path_.string(), err = err_path_.string(), workdir = working_directory.string();
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Dies with the test process, even one killed without running destructors. (The signal
    // follows the thread that forked: tests start processes from their main thread.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out_fd < 0 || err_fd < 0 || null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) ::_exit(126);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
}

BackgroundProcess::~BackgroundProcess() { stop(); }

bool BackgroundProcess::running() {
  if (reaped_ || pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

bool BackgroundProcess::wait_for_exit(std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

bool BackgroundProcess::stop(std::chrono::milliseconds bound) {
  if (!running()) return true;
  ::kill(pid_, SIGTERM);
  if (wait_for_exit(bound)) return true;
  ::kill(pid_, SIGKILL);
  if (!wait_for_exit(kKillBound)) {
    // Not even SIGKILL: leave it to PR_SET_PDEATHSIG rather than hang the test.
    return false;
  }
  return false;
}

void BackgroundProcess::send_signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> BackgroundProcess::exit_code() const {
  if (!reaped_ || !WIFEXITED(wait_status_)) return std::nullopt;
  return WEXITSTATUS(wait_status_);
}

std::string BackgroundProcess::status() const { return reaped_ ? describe_wait_status(wait_status_) : "running"; }

std::string BackgroundProcess::out() const { return read_text(out_path_); }
std::string BackgroundProcess::err() const { return read_text(err_path_); }

std::string BackgroundProcess::describe() const {
  return "--- " + name_ + " (pid " + std::to_string(pid_) + ", " + status() + ")\n--- stdout:\n" + out() +
         "--- stderr:\n" + err() + "--- end of " + name_ + "\n";
}

// ---- LocalBuild ----

LocalBuild::LocalBuild(std::string program) : program_(std::move(program)), dir_(unique_temp_dir("snap-local-")) {
  try {
    BackgroundProcess build("build", {program_, "build", "--out", (dir_ / "out").string(), "--local"},
                            environment({}), dir_, dir_);
    if (!build.wait_for_exit(kBuildBound)) {
      build.stop();
      throw std::runtime_error("the --local build did not finish within " +
                               std::to_string(std::chrono::seconds(kBuildBound).count()) + " s\n" + build.describe());
    }
    if (build.exit_code() != 0) throw std::runtime_error("the --local build failed\n" + build.describe());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

LocalBuild::~LocalBuild() {
  // Reverse order: what started last (a client) goes before what it calls.
  while (!processes_.empty()) processes_.pop_back();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

unsigned short LocalBuild::port(const std::string& port_id) const {
  const auto state = boost::json::parse(read_text(dir_ / "out" / "state" / "build-state.json"));
  const auto* ports = state.as_object().if_contains("ports");
  const auto* number = ports != nullptr && ports->is_object() ? ports->as_object().if_contains(port_id) : nullptr;
  if (number == nullptr) {
    throw std::runtime_error("the build state has no port " + port_id + ": " + boost::json::serialize(state));
  }
  return static_cast<unsigned short>(number->to_number<int>());
}

std::map<std::string, std::string> LocalBuild::environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = entry.substr(0, eq);
    if (key.rfind("OTEL_", 0) == 0 || key == "PERSONA" || key == "SNAP_LOG" || key == "SNAP_JOB_RUNS" ||
        key == "SNAP_SECRETS_DIR") {
      continue;
    }
    env[key] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  return env;
}

BackgroundProcess& LocalBuild::start(const std::string& persona, const std::map<std::string, std::string>& extra,
                                     const std::string& label) {
  const std::string name = label.empty() ? persona : label;
  processes_.push_back(std::make_unique<BackgroundProcess>(
      name, std::vector<std::string>{program_, "run", persona, "--log", log().string()}, environment(extra), dir_,
      dir_));
  return *processes_.back();
}

std::string LocalBuild::describe() const {
  std::string all;
  for (const auto& p : processes_) all += p->describe();
  return all;
}

void LocalBuild::wait_healthy(BackgroundProcess& process, unsigned short port, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                              "\r\nConnection: close\r\n\r\n";
  std::string last = "no answer";
  for (;;) {
    if (!process.running()) {
      throw std::runtime_error(process.name() + " exited before it was healthy on port " + std::to_string(port) +
                               "\n" + process.describe());
    }
    try {
      const RawHttpReply reply = raw_http_exchange(port, request, std::chrono::seconds(2));
      if (reply.status == 200) return;
      last = reply.head;
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  throw std::runtime_error(process.name() + " was not healthy on port " + std::to_string(port) + " within " +
                           std::to_string(bound.count()) + " ms (last: " + last + ")\n" + process.describe());
}

// ---- ports ----

unsigned short free_loopback_port() {
  const auto [fd, port] = bind_loopback_any();
  ::close(fd);
  return port;
}

ClosedLoopbackPort::ClosedLoopbackPort() { std::tie(fd_, port_) = bind_loopback_any(); }
ClosedLoopbackPort::~ClosedLoopbackPort() { ::close(fd_); }

SilentLoopbackPort::SilentLoopbackPort() {
  std::tie(fd_, port_) = bind_loopback_any();
  if (::listen(fd_, 64) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("listen: " + error);
  }
}
SilentLoopbackPort::~SilentLoopbackPort() { ::close(fd_); }

// ---- raw HTTP ----

RawHttpReply raw_http_exchange(unsigned short port, const std::string& request, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  const auto remaining_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  const std::string where = "127.0.0.1:" + std::to_string(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const auto fail = [&](const std::string& what) { return std::runtime_error(where + ": " + what); };
  const auto wait_for = [&](short events, const char* step) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms());
    if (n == 0) throw fail(std::string(step) + ": no progress within " + std::to_string(bound.count()) + " ms");
    if (n < 0) throw fail(std::string(step) + ": " + std::strerror(errno));
  };

  sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) throw fail(std::string("connect: ") + std::strerror(errno));
    wait_for(POLLOUT, "connect");
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) throw fail(std::string("connect: ") + std::strerror(error));
  }
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_for(POLLOUT, "send");
    } else {
      throw fail(std::string("send: ") + std::strerror(errno));
    }
  }
  std::string received;
  for (;;) {
    char buffer[8192];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(POLLIN, "receive");
    } else if (errno == ECONNRESET && !received.empty()) {
      break;
    } else {
      throw fail(std::string("receive: ") + std::strerror(errno));
    }
  }
  RawHttpReply reply;
  const auto blank = received.find("\r\n\r\n");
  reply.head = received.substr(0, blank);
  if (blank != std::string::npos) reply.body = received.substr(blank + 4);
  // "HTTP/1.1 200 OK"
  if (reply.head.rfind("HTTP/", 0) == 0) {
    const auto space = reply.head.find(' ');
    if (space != std::string::npos) reply.status = std::atoi(reply.head.c_str() + space + 1);
  }
  return reply;
}

}  // namespace snap::testing
