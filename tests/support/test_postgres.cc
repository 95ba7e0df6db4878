#include "test_postgres.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "subprocess.h"

namespace snap::testing {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";
constexpr int kPort = 5432;  // names the socket file only; the socket dir is private

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("PPid:", 0) == 0) {
        if (std::stoi(line.substr(5)) == parent) out.push_back(std::stoi(name));
        break;
      }
    }
  }
  return out;
}

// A zombie holds no shared memory: only running processes count.
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  const auto close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

}  // namespace

TestPostgres::TestPostgres() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("snap-pg-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_ / "socket");
  socket_dir_ = (dir_ / "socket").string();
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("running as root, but there is no `postgres` user to run the server");
    for (const auto& p : {dir_, dir_ / "socket"}) {
      if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + p.string());
    }
  }
  run_as_server_user({kBin + "initdb", "-D", (dir_ / "data").string(), "-U", "snap", "-A", "trust", "--no-sync",
                      "-E", "UTF8", "--locale=C"});
  start();
}

TestPostgres::~TestPostgres() {
  try {
    stop("fast");
  } catch (...) {
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestPostgres::connection() const {
  return "host=" + socket_dir_ + " port=" + std::to_string(kPort) + " user=snap dbname=postgres";
}

void TestPostgres::run_as_server_user(const std::vector<std::string>& argv) {
  std::vector<std::string> full;
  if (geteuid() == 0) full = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  ProcessOptions options;
  options.working_directory = dir_;
  auto r = run_process(full, options);
  if (r.exit_code != 0) {
    throw std::runtime_error(argv[0] + " failed (" + std::to_string(r.exit_code) + "): " + r.out + r.err +
                             read_text(dir_ / "server.log"));
  }
}

void TestPostgres::start() {
  // -w waits until the server accepts connections (pg_ctl polls it), bounded by -t.
  run_as_server_user({kBin + "pg_ctl", "-D", (dir_ / "data").string(), "-l", (dir_ / "server.log").string(), "-w",
                      "-t", "120", "-o",
                      "-k " + socket_dir_ + " -p " + std::to_string(kPort) + " -c listen_addresses=''", "start"});
}

void TestPostgres::stop(const std::string& mode) {
  run_as_server_user({kBin + "pg_ctl", "-D", (dir_ / "data").string(), "-w", "-t", "120", "-m", mode, "stop"});
}

void TestPostgres::restart(const std::string& mode) {
  stop(mode);
  start();
}

void TestPostgres::kill_and_restart() {
  const std::string pid_line = read_text(dir_ / "data" / "postmaster.pid");
  const pid_t postmaster = std::stoi(pid_line.substr(0, pid_line.find('\n')));
  // Frozen first, so that it forks nothing between the listing of its children and its
  // death: killed after a child, a running postmaster notices, "reinitializes" and starts
  // new processes that the list does not hold and that keep the shared memory.
  kill(postmaster, SIGSTOP);
  std::vector<pid_t> victims = children_of(postmaster);
  victims.push_back(postmaster);
  for (pid_t p : victims) kill(p, SIGKILL);
  // The new postmaster refuses to start while old processes hold the shared memory:
  // wait (bounded) until every one is gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (pid_t p : victims) {
    while (alive(p) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // The killed postmaster may linger as a zombie where PID 1 does not reap orphans, and
  // PostgreSQL takes any existing PID in its lock file for a live server. Every process
  // is dead by now, so the lock is stale: remove it, as an operator would after a crash.
  std::filesystem::remove(dir_ / "data" / "postmaster.pid");
  const std::string socket = socket_dir_ + "/.s.PGSQL." + std::to_string(kPort);
  std::filesystem::remove(socket + ".lock");
  std::filesystem::remove(socket);
  start();
}

TestPostgres& TestPostgres::shared() {
  static TestPostgres server;  // stopped by the static destructor at exit
  return server;
}

}  // namespace snap::testing
