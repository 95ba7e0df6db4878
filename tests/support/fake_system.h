// A deterministic System for tests: a clock that advances by a fixed step per reading,
// a counter-based "random" stream, an in-memory file tree and environment. Counts calls,
// so a test can prove replay never touched it.
#pragma once

#include <algorithm>
#include <map>
#include <string>

#include "snap/system.h"

namespace snap::testing {

class FakeSystem final : public System {
 public:
  explicit FakeSystem(std::int64_t seed = 1) : seed_(seed), clock_ns_(1'700'000'000'000'000'000 + seed * 1'000'000) {}

  std::map<std::string, std::string> files;
  std::map<std::string, std::string> variables;
  int calls = 0;

  std::chrono::system_clock::time_point wall_now() override {
    ++calls;
    clock_ns_ += 1000;
    return std::chrono::system_clock::time_point(std::chrono::nanoseconds(clock_ns_));
  }
  std::chrono::steady_clock::time_point steady_now() override {
    ++calls;
    clock_ns_ += 1000;
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(clock_ns_ / 1000));
  }
  void random_bytes(void* out, std::size_t size) override {
    ++calls;
    auto* p = static_cast<unsigned char*>(out);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<unsigned char>((counter_++ * 131 + seed_ * 7) & 0xff);
  }
  std::string read_file(const std::filesystem::path& path) override {
    ++calls;
    auto it = files.find(path.string());
    if (it == files.end()) throw FileError("cannot read " + path.string() + ": No such file or directory");
    return it->second;
  }
  bool file_exists(const std::filesystem::path& path) override {
    ++calls;
    return files.count(path.string()) > 0;
  }
  std::vector<std::string> list_directory(const std::filesystem::path& path) override {
    ++calls;
    std::vector<std::string> names;
    const std::string prefix = path.string() + "/";
    for (const auto& [name, content] : files) {
      if (name.rfind(prefix, 0) == 0) names.push_back(name.substr(prefix.size()));
    }
    if (names.empty()) throw FileError("cannot list " + path.string() + ": No such file or directory");
    return names;
  }
  std::optional<std::string> env(const std::string& name) override {
    ++calls;
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::int64_t seed_;
  std::int64_t clock_ns_;
  std::uint64_t counter_ = 0;
};

}  // namespace snap::testing
