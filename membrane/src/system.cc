#include "snap/system.h"

#include "snap/determinism_guard.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>

namespace snap {

namespace {

std::string describe_error(const std::filesystem::path& path, const char* what, const std::error_code& ec) {
  return std::string(what) + " " + path.string() + ": " + ec.message();
}

// Every method runs exempt from the determinism guard: the membrane is the only caller, and
// it records or replays what the real call returns.
constexpr std::string_view kExempt = "the membrane's real System: its result is recorded or replayed";

class RealSystem final : public System {
 public:
  std::chrono::system_clock::time_point wall_now() override {
    AllowNondeterminism allow(kExempt);
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steady_now() override {
    AllowNondeterminism allow(kExempt);
    return std::chrono::steady_clock::now();
  }

  void random_bytes(void* out, std::size_t size) override {
    AllowNondeterminism allow(kExempt);
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

  std::string read_file(const std::filesystem::path& path) override {
    AllowNondeterminism allow(kExempt);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw FileError(describe_error(path, "cannot read", std::make_error_code(std::errc::is_a_directory)));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(describe_error(path, "cannot read", std::error_code(errno, std::generic_category())));
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw FileError(describe_error(path, "cannot read", std::error_code(errno, std::generic_category())));
    return content;
  }

  bool file_exists(const std::filesystem::path& path) override {
    AllowNondeterminism allow(kExempt);
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  }

  std::vector<std::string> list_directory(const std::filesystem::path& path) override {
    AllowNondeterminism allow(kExempt);
    std::error_code ec;
    std::vector<std::string> names;
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) throw FileError(describe_error(path, "cannot list", ec));
    std::sort(names.begin(), names.end());
    return names;
  }

  std::optional<std::string> env(const std::string& name) override {
    AllowNondeterminism allow(kExempt);
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }
};

}  // namespace

std::unique_ptr<System> make_real_system() { return std::make_unique<RealSystem>(); }

}  // namespace snap
