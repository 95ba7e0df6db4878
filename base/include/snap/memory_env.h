// An Env with no disk and no real time, for tests (LevelDB's NewMemEnv is the model).
//
// - Files: an in-memory tree rooted at "/", with directories, permissions, rename,
//   exchange, locks and the errors a POSIX file system gives (ENOENT, EISDIR, ENOTDIR,
//   ENOTEMPTY). Relative paths are taken from "/". Nothing touches the disk.
// - Time: one virtual clock behind wall_now() and steady_now(). Each reading first
//   advances it by the tick (1 µs by default, so successive readings differ; set_tick(0)
//   for a clock that moves only when told); sleep_for() and advance() move it and return
//   at once. A timeout path therefore runs in no real time, and a test asserts exactly
//   how much virtual time it took (steady_elapsed()).
// - Randomness: a deterministic stream from the seed; the environment: a map.
// - Programs: none is installed; run_program() answers 127 (not found). Owners are not
//   kept; set_owner() checks only that the path exists.
// - calls() counts every Env method called (not the test controls below), so a test can
//   prove that replay never touched the Env.
//
//   snap::MemoryEnv env;
//   env.set_variable("PERSONA", "api");
//   snap::write_file(env, "/run/secrets/db", "hunter2");
//
// Thread safety: every method may be called from any thread (one mutex). Files and locks
// it hands out must not outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "snap/env.h"

namespace snap {

class MemoryEnv final : public Env {
 public:
  // `seed` moves the wall clock's start and changes the random stream, so two envs with
  // different seeds give different answers.
  explicit MemoryEnv(std::int64_t seed = 1);
  ~MemoryEnv() override;

  // ---- test controls (not counted in calls()) ----
  // Moves the virtual clock forward, as time passing.
  void advance(std::chrono::nanoseconds duration);
  // How far each clock reading moves the clock first (default 1 µs).
  void set_tick(std::chrono::nanoseconds tick);
  // Virtual time since construction: readings' ticks, sleeps and advance() together.
  std::chrono::nanoseconds steady_elapsed() const;
  // Total of sleep_for() durations.
  std::chrono::nanoseconds slept() const;
  void set_variable(const std::string& name, std::string value);
  // Every path in the tree (files and directories, "/" excluded), sorted.
  std::vector<std::string> paths() const;
  // Env methods called so far.
  int calls() const { return calls_.load(); }

  // ---- Env ----
  std::chrono::system_clock::time_point wall_now() override;
  std::chrono::steady_clock::time_point steady_now() override;
  void sleep_for(std::chrono::nanoseconds duration) override;
  void random_bytes(void* out, std::size_t size) override;
  std::optional<std::string> variable(const std::string& name) override;
  std::string read_file(const std::filesystem::path& path) override;
  FileType file_type(const std::filesystem::path& path) override;
  std::vector<std::string> list_directory(const std::filesystem::path& path) override;
  std::unique_ptr<RandomAccessFile> open_for_reading(const std::filesystem::path& path) override;
  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path,
                                            std::filesystem::perms permissions) override;
  void create_directories(const std::filesystem::path& path) override;
  void set_permissions(const std::filesystem::path& path, std::filesystem::perms permissions) override;
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  void exchange(const std::filesystem::path& a, const std::filesystem::path& b) override;
  void remove_all(const std::filesystem::path& path) override;
  void sync(const std::filesystem::path& path) override;
  std::unique_ptr<FileLock> try_lock(const std::filesystem::path& path, std::string_view holder) override;
  void set_owner(const std::filesystem::path& path, unsigned uid, unsigned gid) override;
  ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input) override;

  struct Node;  // one file or directory; public for the file objects in memory_env.cc

 private:
  std::chrono::nanoseconds tick_reading();
  // Requires mutex_. The node at `key` (a normalized path), or null.
  Node* find(const std::string& key);
  // Requires mutex_. The parent of `key` must be an existing directory (else throws).
  void require_parent(const char* what, const std::string& key);
  void unlock(const std::string& key);

  mutable std::mutex mutex_;
  std::map<std::string, Node> tree_;  // by normalized absolute path; "/" always there
  std::map<std::string, std::string> variables_;
  std::set<std::string> locked_;
  std::int64_t seed_;
  std::uint64_t random_counter_ = 0;
  std::chrono::nanoseconds elapsed_{0};
  std::chrono::nanoseconds slept_{0};
  std::chrono::nanoseconds tick_{std::chrono::microseconds(1)};
  std::atomic<int> calls_{0};
};

}  // namespace snap
