// The operating system behind one injectable interface: clocks and sleep, random bytes,
// the environment, files read and written (create, rename, exchange, lock, sync, list,
// remove, owner), and other programs run to their end (Graphviz's dot, objcopy).
// LevelDB's Env is the model.
//
// Two implementations: real_env() (the operating system, below) and MemoryEnv
// (snap/memory_env.h: an in-memory file tree and a virtual clock, for tests). Code that
// touches the operating system takes an Env& so that a test can run it without a disk and
// without real time.
//
// Startup reads (clocks, random, files, environment) must still go through the membrane
// (snap/membrane.h), which records or replays what the Env answered; the determinism guard
// catches startup code that calls the C library around it. Other users of the Env are the
// build (writing the output directory: the log, the deployment files, the architecture
// picture), the log writer and reader, and runtime code that keeps its own deadlines and
// backoff (a component reaches the app's Env as app().env()). Waits that the kernel or an
// event loop performs (socket timeouts, Asio timers) run on the real clock: see
// docs/architecture.md, "Which clock a wait runs on".
//
// Errors: every file operation throws FileError, whose code() is the operating system's
// error (std::errc::no_such_file_or_directory, is_a_directory...) and whose message names
// the operation and the path.
//
// Thread safety: every method of an Env may be called from any thread at once; both
// implementations are. A WritableFile or RandomAccessFile is used by one thread at a time.
//
// Ownership: an Env outlives everything it hands out (files, locks) and everything that
// holds a reference to it. real_env() lives for the whole process.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "snap/error.h"

namespace snap {

// A file operation failed (not found, permission denied, not a directory...). Carries the
// operating system's message and error. Replay raises the same error with the same
// message (and no code: the log records the message only). Its canonical code
// (Error::code()) is not_found, permission_denied, already_exists or resource_exhausted
// for those errors, else unknown; its detail is "file".
class FileError : public Error {
 public:
  explicit FileError(const std::string& message, std::error_code code = {});
  // The operating system's error (hides Error::code(), the canonical code).
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

// What a path names (after following symbolic links).
enum class FileType {
  kMissing,
  kRegular,
  kDirectory,
  kOther,  // FIFO, socket, device
};

// A file being written. Written bytes reach stable storage only after sync(). The file is
// closed by close() or by the destructor (which ignores errors).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data`; throws FileError.
  virtual void append(std::string_view data) = 0;
  // fsync: the bytes written so far survive a power cut. Throws FileError.
  virtual void sync() = 0;
  virtual void close() = 0;
};

// A regular file opened for positional reads.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // The size when it was opened.
  virtual std::uint64_t size() const = 0;
  // Reads up to `size` bytes at `offset`; returns how many were read (fewer only at the
  // end of the file). Throws FileError.
  virtual std::size_t read_at(std::uint64_t offset, void* out, std::size_t size) = 0;
};

// An exclusive lock on a file, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // ---- clocks and waiting ----
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  // Monotonic: for deadlines, timeouts and durations.
  virtual std::chrono::steady_clock::time_point steady_now() = 0;
  // Blocks the calling thread for `duration` of steady_now()'s time (MemoryEnv: advances
  // its virtual clock and returns at once). Zero or negative returns at once.
  virtual void sleep_for(std::chrono::nanoseconds duration) = 0;

  // ---- randomness and the environment ----
  // Fills `out` with `size` cryptographically secure random bytes.
  virtual void random_bytes(void* out, std::size_t size) = 0;
  // An environment variable, or nullopt when it is not set.
  virtual std::optional<std::string> variable(const std::string& name) = 0;

  // ---- files read ----
  // Whole content of a file (any kind that reads to an end: /proc files, pipes...).
  virtual std::string read_file(const std::filesystem::path& path) = 0;
  virtual FileType file_type(const std::filesystem::path& path) = 0;
  bool file_exists(const std::filesystem::path& path) { return file_type(path) != FileType::kMissing; }
  // Entry names (not paths), sorted byte-wise so listings are deterministic.
  virtual std::vector<std::string> list_directory(const std::filesystem::path& path) = 0;
  // Opens a regular file for read_at(). Never blocks (a FIFO with no writer is refused,
  // not waited on). Refuses a directory (code std::errc::is_a_directory) and a FIFO,
  // socket or device (code std::errc::invalid_argument, "not a regular file").
  virtual std::unique_ptr<RandomAccessFile> open_for_reading(const std::filesystem::path& path) = 0;

  // ---- files written ----
  // Creates `path` (or truncates it) with exactly `permissions` (not filtered by the
  // umask). The parent directory must exist.
  virtual std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path,
                                                    std::filesystem::perms permissions) = 0;
  // Creates `path` and its missing parents; an existing directory is fine.
  virtual void create_directories(const std::filesystem::path& path) = 0;
  virtual void set_permissions(const std::filesystem::path& path, std::filesystem::perms permissions) = 0;
  // Renames `from` to `to` atomically, replacing a file or an empty directory at `to`.
  virtual void rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Swaps what `a` and `b` name in one atomic step (renameat2 RENAME_EXCHANGE): both
  // exist throughout. Both must exist.
  virtual void exchange(const std::filesystem::path& a, const std::filesystem::path& b) = 0;
  // Removes `path` and everything under it; a missing path is fine.
  virtual void remove_all(const std::filesystem::path& path) = 0;
  // fsync of a file or directory (a directory's sync makes its entries durable).
  virtual void sync(const std::filesystem::path& path) = 0;
  // Creates `path` if missing and takes an exclusive lock on it without waiting (flock:
  // also excludes another lock on the same file in this process). On success `holder`
  // (who holds it, e.g. a pid) replaces the file's content, so that whoever fails next can
  // read_file() it for the message. Returns null when someone else holds the lock.
  virtual std::unique_ptr<FileLock> try_lock(const std::filesystem::path& path, std::string_view holder) = 0;
  // chown: gives `path` to `uid`:`gid` (needs root, or the file's owner giving it to a
  // group of its own).
  virtual void set_owner(const std::filesystem::path& path, unsigned uid, unsigned gid) = 0;

  // ---- other programs ----
  struct ProgramResult {
    int status = 127;    // the exit status; 127 when it could not be started (as a shell
                         // says), 128 + N when signal N ended it
    std::string output;  // all it wrote to its standard output
  };
  // Runs `argv` (argv[0] looked up on $PATH) to its end with `input` on its standard
  // input and this process's standard error, and returns its status and standard output.
  // MemoryEnv starts nothing: every program is missing (127), so callers take the path
  // they take where a tool is not installed.
  virtual ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input) = 0;
};

// Forwards every call to another Env: a subclass overrides only what it changes (a test's
// scripted clock over the real files, an Env that fails one call...). LevelDB's
// EnvWrapper. `target` must outlive the wrapper.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}
  Env& target() const { return target_; }

  std::chrono::system_clock::time_point wall_now() override { return target_.wall_now(); }
  std::chrono::steady_clock::time_point steady_now() override { return target_.steady_now(); }
  void sleep_for(std::chrono::nanoseconds duration) override { target_.sleep_for(duration); }
  void random_bytes(void* out, std::size_t size) override { target_.random_bytes(out, size); }
  std::optional<std::string> variable(const std::string& name) override { return target_.variable(name); }
  std::string read_file(const std::filesystem::path& path) override { return target_.read_file(path); }
  FileType file_type(const std::filesystem::path& path) override { return target_.file_type(path); }
  std::vector<std::string> list_directory(const std::filesystem::path& path) override {
    return target_.list_directory(path);
  }
  std::unique_ptr<RandomAccessFile> open_for_reading(const std::filesystem::path& path) override {
    return target_.open_for_reading(path);
  }
  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path,
                                            std::filesystem::perms permissions) override {
    return target_.create_file(path, permissions);
  }
  void create_directories(const std::filesystem::path& path) override { target_.create_directories(path); }
  void set_permissions(const std::filesystem::path& path, std::filesystem::perms permissions) override {
    target_.set_permissions(path, permissions);
  }
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override { target_.rename(from, to); }
  void exchange(const std::filesystem::path& a, const std::filesystem::path& b) override { target_.exchange(a, b); }
  void remove_all(const std::filesystem::path& path) override { target_.remove_all(path); }
  void sync(const std::filesystem::path& path) override { target_.sync(path); }
  std::unique_ptr<FileLock> try_lock(const std::filesystem::path& path, std::string_view holder) override {
    return target_.try_lock(path, holder);
  }
  void set_owner(const std::filesystem::path& path, unsigned uid, unsigned gid) override {
    target_.set_owner(path, uid, gid);
  }
  ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input) override {
    return target_.run_program(argv, input);
  }

 private:
  Env& target_;
};

// The operating system: clock_gettime, nanosleep, getrandom, getenv, POSIX files. One per
// process, never destroyed. Call it at the top of a program (snap::run does) or as a
// default for a library that reads files (the log reader and writer); code below the top
// takes an Env& so that tests can pass a MemoryEnv.
Env& real_env();

// The one helper for a small whole file: creates the missing parents of `path`, writes
// `content` with `permissions`, syncs and closes. Throws FileError.
void write_file(Env& env, const std::filesystem::path& path, std::string_view content,
                std::filesystem::perms permissions = std::filesystem::perms(0644));

// Copies the content of the regular file `from` to `to` (created or truncated, with
// `permissions`; the parent must exist), in pieces: a binary need not fit in memory.
// Throws FileError.
void copy_file(Env& env, const std::filesystem::path& from, const std::filesystem::path& to,
               std::filesystem::perms permissions);

}  // namespace snap
