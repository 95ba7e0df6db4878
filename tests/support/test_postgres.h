// A private PostgreSQL 15 server for tests and benchmarks: initdb into a temporary
// directory, listening only on a unix socket there, stopped and removed at the end. No
// system service is touched. As root it runs the server as the `postgres` user, since
// PostgreSQL refuses to run as root.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace snap::testing {

class TestPostgres {
 public:
  // Starts a fresh server. Throws std::runtime_error (with the server log) on failure.
  TestPostgres();
  // Stops it (fast) and removes its directory.
  ~TestPostgres();
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // A libpq connection string for the server's `postgres` database.
  std::string connection() const;

  // pg_ctl stop -m MODE ("smart", "fast" or "immediate"), then start again.
  void restart(const std::string& mode);
  // The two halves of restart, for an outage that lasts: while stopped, its socket is gone.
  void stop(const std::string& mode);
  void start();
  // SIGKILL to the postmaster and its children -- as a crash would -- then start again.
  void kill_and_restart();

  // One server per test process, started on first use.
  static TestPostgres& shared();

 private:
  void run_as_server_user(const std::vector<std::string>& argv);
  std::filesystem::path dir_;
  std::string socket_dir_;
};

}  // namespace snap::testing
