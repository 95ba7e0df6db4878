// Thin POSIX file helpers shared by the log writer and reader: every failure becomes a
// LogError naming the path and errno's text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "snap/log.h"

namespace snap::detail {

[[noreturn]] void throw_log_error(LogErrorCode code, const std::filesystem::path& path,
                                  const std::string& detail);
[[noreturn]] void throw_errno(const std::filesystem::path& path, const char* what, int err);

// Owns a file descriptor.
class File {
 public:
  File() = default;
  explicit File(int fd) : fd_(fd) {}
  ~File();
  File(File&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void close();

 private:
  int fd_ = -1;
};

// Writes all bytes or throws kIo.
void write_all(int fd, const std::filesystem::path& path, const void* data, std::size_t size);
// Reads up to `size` bytes at `offset`; returns how many were read (short only at EOF).
std::size_t read_at(int fd, const std::filesystem::path& path, void* data, std::size_t size,
                    std::uint64_t offset);

}  // namespace snap::detail
