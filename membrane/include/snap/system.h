// The operating system's nondeterministic inputs behind one injectable interface:
// clocks, randomness, files and the environment.
//
// Only the membrane calls a System. Program code asks the membrane, which records,
// replays or passes the call through. Tests inject a fake System to prove that replay
// never touches the real one.
//
// DO NOT CALL make_real_system() except at the top of a program (snap::run does it).
//
// Thread safety: implementations must be safe to call from any thread; the real one is.
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
#include <vector>

namespace snap {

// A file operation failed (not found, permission denied, not a directory...). Carries the
// operating system's message. Replay raises the same error with the same message.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class System {
 public:
  virtual ~System() = default;
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  virtual std::chrono::steady_clock::time_point steady_now() = 0;
  // Fills `out` with `size` cryptographically secure random bytes.
  virtual void random_bytes(void* out, std::size_t size) = 0;
  // Whole content; throws FileError.
  virtual std::string read_file(const std::filesystem::path& path) = 0;
  virtual bool file_exists(const std::filesystem::path& path) = 0;
  // Entry names (not paths), sorted byte-wise so listings are deterministic; throws FileError.
  virtual std::vector<std::string> list_directory(const std::filesystem::path& path) = 0;
  virtual std::optional<std::string> env(const std::string& name) = 0;
};

// The real operating system: clock_gettime, getrandom, POSIX files, getenv.
std::unique_ptr<System> make_real_system();

}  // namespace snap
