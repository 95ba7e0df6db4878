// Scripted inputs over the real file system, for tests that build into a directory on
// disk and look at it: a clock that advances by a fixed step per reading, a counter-based
// "random" stream and a map of environment variables; files, locks and sleep are the
// real Env's. Counts the scripted calls, so a test can prove replay never read them.
// (snap::MemoryEnv is the Env with no disk at all.)
#pragma once

#include <map>
#include <string>

#include "snap/env.h"

namespace snap::testing {

class FakeSystem final : public EnvWrapper {
 public:
  explicit FakeSystem(std::int64_t seed = 1)
      : EnvWrapper(real_env()), seed_(seed), clock_ns_(1'700'000'000'000'000'000 + seed * 1'000'000) {}

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
  std::optional<std::string> variable(const std::string& name) override {
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
