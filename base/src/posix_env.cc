// The real Env: POSIX calls, each failure a FileError with errno's code and text.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "snap/env.h"

namespace snap {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const char* what, const fs::path& path, std::error_code code) {
  throw FileError(std::string(what) + " " + path.string() + ": " + code.message(), code);
}
[[noreturn]] void fail_errno(const char* what, const fs::path& path) {
  fail(what, path, std::error_code(errno, std::generic_category()));
}

mode_t mode_of(fs::perms permissions) { return static_cast<mode_t>(permissions) & 07777; }

// Closes on destruction; the one owner of a descriptor.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() { close(); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
  void append(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("cannot write", path_);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void sync() override {
    if (::fsync(fd_.get()) != 0) fail_errno("cannot sync", path_);
  }
  void close() override { fd_.close(); }

 private:
  Descriptor fd_;
  fs::path path_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, fs::path path, std::uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  std::size_t read_at(std::uint64_t offset, void* out, std::size_t size) override {
    auto* p = static_cast<char*>(out);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pread(fd_.get(), p + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("cannot read", path_);
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

 private:
  Descriptor fd_;
  fs::path path_;
  std::uint64_t size_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}  // closing the descriptor releases the flock

 private:
  Descriptor fd_;
};

class PosixEnv final : public Env {
 public:
  std::chrono::system_clock::time_point wall_now() override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point steady_now() override { return std::chrono::steady_clock::now(); }
  void sleep_for(std::chrono::nanoseconds duration) override {
    if (duration > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(duration);
  }

  void random_bytes(void* out, std::size_t size) override {
    auto* p = static_cast<unsigned char*>(out);
    while (size > 0) {
      const ssize_t n = ::getrandom(p, size, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  std::optional<std::string> variable(const std::string& name) override {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }

  std::string read_file(const fs::path& path) override {
    std::error_code ec;
    if (fs::is_directory(path, ec)) fail("cannot read", path, std::make_error_code(std::errc::is_a_directory));
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_errno("cannot read", path);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail_errno("cannot read", path);
    return content;
  }

  FileType file_type(const fs::path& path) override {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    switch (status.type()) {
      case fs::file_type::regular: return FileType::kRegular;
      case fs::file_type::directory: return FileType::kDirectory;
      case fs::file_type::not_found:
      case fs::file_type::none: return FileType::kMissing;
      default: return FileType::kOther;
    }
  }

  std::vector<std::string> list_directory(const fs::path& path) override {
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) fail("cannot list", path, ec);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::unique_ptr<RandomAccessFile> open_for_reading(const fs::path& path) override {
    // O_NONBLOCK: opening a FIFO with no writer must not block.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail_errno("cannot open", path);
    struct stat st {};
    const int stat_error = ::fstat(fd, &st) != 0 ? errno : 0;
    auto file = std::make_unique<PosixRandomAccessFile>(fd, path, static_cast<std::uint64_t>(st.st_size));
    if (stat_error != 0) fail("cannot stat", path, std::error_code(stat_error, std::generic_category()));
    if (S_ISDIR(st.st_mode)) fail("cannot open", path, std::make_error_code(std::errc::is_a_directory));
    // A FIFO, socket or device has no size and may never reach its end.
    if (!S_ISREG(st.st_mode)) {
      throw FileError("cannot open " + path.string() + ": not a regular file",
                      std::make_error_code(std::errc::invalid_argument));
    }
    return file;
  }

  std::unique_ptr<WritableFile> create_file(const fs::path& path, fs::perms permissions) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_of(permissions));
    if (fd < 0) fail_errno("cannot create", path);
    auto file = std::make_unique<PosixWritableFile>(fd, path);
    if (::fchmod(fd, mode_of(permissions)) != 0) fail_errno("cannot set the permissions of", path);  // O_CREAT's mode is filtered by the umask
    return file;
  }

  void create_directories(const fs::path& path) override {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) fail("cannot create directory", path, ec);
  }

  void set_permissions(const fs::path& path, fs::perms permissions) override {
    std::error_code ec;
    fs::permissions(path, permissions, ec);
    if (ec) fail("cannot set the permissions of", path, ec);
  }

  void rename(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const std::error_code code(errno, std::generic_category());
      fail(("cannot rename " + from.string() + " to").c_str(), to, code);
    }
  }

  void exchange(const fs::path& a, const fs::path& b) override {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
      const std::error_code code(errno, std::generic_category());
      fail(("cannot exchange " + a.string() + " and").c_str(), b, code);
    }
  }

  void remove_all(const fs::path& path) override {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) fail("cannot remove", path, ec);
  }

  void sync(const fs::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno("cannot open", path);
    Descriptor owned(fd);
    if (::fsync(fd) != 0) fail_errno("cannot sync", path);
  }

  std::unique_ptr<FileLock> try_lock(const fs::path& path, std::string_view holder) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno("cannot create the lock", path);
    auto lock = std::make_unique<PosixLock>(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return nullptr;
      fail_errno("cannot lock", path);
    }
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, holder.data(), holder.size(), 0) < 0) fail_errno("cannot write", path);
    return lock;
  }

  void set_owner(const fs::path& path, unsigned uid, unsigned gid) override {
    if (::chown(path.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
      fail_errno("cannot change the owner of", path);
    }
  }

  ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input) override {
    ProgramResult result;
    if (argv.empty()) return result;
    // The input goes through a socket pair rather than a pipe so that it can be sent with
    // MSG_NOSIGNAL: a program that exits without reading it must not SIGPIPE us.
    int to_child[2], from_child[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_child) != 0) return result;
    if (::pipe2(from_child, O_CLOEXEC) != 0) {
      ::close(to_child[0]);
      ::close(to_child[1]);
      return result;
    }
    Descriptor child_in(to_child[0]), writer(to_child[1]), reader(from_child[0]), child_out(from_child[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_in.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, child_out.get(), STDOUT_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    child_in.close();
    child_out.close();
    if (spawned != 0) return result;
    // The input is written on a thread of its own while the output is read here: a
    // program that writes before it has read all its input would otherwise block both.
    std::thread feed([&writer, input] {
      for (std::string_view left = input; !left.empty();) {
        const ssize_t n = ::send(writer.get(), left.data(), left.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the program closed its input: it has what it wanted
        left.remove_prefix(static_cast<std::size_t>(n));
      }
      writer.close();
    });
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(reader.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
    feed.join();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return result;
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
  }

};

}  // namespace

Env& real_env() {
  static PosixEnv env;  // stateless: destruction order does not matter
  return env;
}

}  // namespace snap
