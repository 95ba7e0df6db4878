#include "file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "snap/text.h"

namespace snap::detail {

void throw_log_error(LogErrorCode code, const std::filesystem::path& path,
                     const std::string& detail) {
  // The path is the user's argument (or a log's): shown printable, never as raw escapes.
  std::string message = printable(path.string());
  message += ": ";
  message += to_string(code);
  if (!detail.empty()) {
    message += ": ";
    message += detail;
  }
  throw LogError(code, message);
}

void throw_errno(const std::filesystem::path& path, const char* what, int err) {
  throw_log_error(err == ENOENT ? LogErrorCode::kNotFound : LogErrorCode::kIo, path,
                  std::string(what) + ": " + std::strerror(err));
}

File::~File() { close(); }

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void File::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void write_all(int fd, const std::filesystem::path& path, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "write failed", errno);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::size_t read_at(int fd, const std::filesystem::path& path, void* data, std::size_t size,
                    std::uint64_t offset) {
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "read failed", errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace snap::detail
