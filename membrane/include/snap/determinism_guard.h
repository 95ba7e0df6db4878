// The determinism guard: catches startup code that reads the clock, randomness, the
// environment or files straight from the C library instead of through the membrane.
//
// Such a read is recorded nowhere, so every container that replays the log gets its own
// value while `verify` still passes. The snap library defines the C library's
// nondeterministic functions itself (time, gettimeofday, clock_gettime, getrandom,
// getentropy, arc4random*, rand, random, rand_r, getenv, secure_getenv, open, open64,
// openat, openat64, fopen, fopen64, opendir, and std::random_device's draw); each
// forwards to the real one and, on a thread where a DeterminismGuard is armed, first
// notes the call: which function, a backtrace, and the membrane call to use instead. Nothing is thrown from inside the C
// call (it is often reached from noexcept library code); check() raises the first
// violation afterwards as a NondeterminismError. What it cannot see (rdrand, raw syscalls,
// statically linked code...) is listed in docs/determinism-guard.md.
//
//   snap::DeterminismGuard guard;           // the lifecycle arms it around startup
//   define_app(app);
//   guard.check();                          // NondeterminismError if startup read raw time...
//
// Thread safety: the guard watches only the thread that armed it; calls from other threads
// pass through after one thread-local load. A DeterminismGuard and an AllowNondeterminism
// must be destroyed on the thread that made them, innermost first (they are scopes).
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "snap/error.h"

namespace snap {

// Startup called a nondeterministic C library function directly. A program bug: the
// fix is the membrane call in suggestion(), or an AllowNondeterminism scope. Code
// unimplemented (startup does not support reading the operating system around the
// membrane; exit status 4), detail "membrane.nondeterminism".
class NondeterminismError : public Error {
 public:
  NondeterminismError(std::string function, std::string call_site, std::string suggestion,
                      std::vector<std::string> backtrace, std::size_t count);

  // The C function that was called: "clock_gettime", "fopen64", "getenv"...
  const std::string& function() const { return function_; }
  // The first frame outside the snap library's interposers and the C/C++ runtime
  // libraries: "my_app::define(snap::App&) at app.cc:42" (file:line when debug
  // information and addr2line are available, else the symbol or object+offset).
  const std::string& call_site() const { return call_site_; }
  // What to call instead: "m.wall_now()", "m.env(name)"...
  const std::string& suggestion() const { return suggestion_; }
  // Every captured frame, innermost first, symbolised.
  const std::vector<std::string>& backtrace() const { return backtrace_; }
  // How many calls were caught in all (only the first is described).
  std::size_t count() const { return count_; }

 private:
  std::string function_;
  std::string call_site_;
  std::string suggestion_;
  std::vector<std::string> backtrace_;
  std::size_t count_;
};

// Arms the guard on the calling thread for its lifetime. Guards nest: a call caught
// inside an inner guard is a violation of every enclosing armed guard too.
class DeterminismGuard {
 public:
  DeterminismGuard();
  ~DeterminismGuard();
  DeterminismGuard(const DeterminismGuard&) = delete;
  DeterminismGuard& operator=(const DeterminismGuard&) = delete;

  // Throws NondeterminismError for the first violation seen while armed, if any.
  // Symbolises the backtrace (may run addr2line); the calls that takes are not caught.
  void check() const;
  bool violated() const { return count_ > 0; }

  // Stops and restarts watching (this guard and the guards it encloses share the thread:
  // while the innermost guard is disarmed nothing is caught). Violations already seen stay.
  void disarm() { armed_ = false; }
  void arm() { armed_ = true; }
  bool armed() const { return armed_; }

  // A captured violation, raw: symbolised only by check(). Public for the implementation.
  static constexpr std::size_t kMaxFrames = 48;
  struct Record {
    int function = -1;  // index into the implementation's table of watched functions
    std::size_t frames = 0;
    std::array<void*, kMaxFrames> stack{};
  };

 private:
  friend struct GuardAccess;
  DeterminismGuard* outer_;
  bool armed_ = true;
  std::size_t count_ = 0;
  Record first_;
};

namespace detail {
// Open AllowNondeterminism scopes on this thread. Here rather than hidden so that opening
// a scope is two inline increments: the membrane opens one around every Env call.
extern constinit thread_local int t_allowed;
}  // namespace detail

// A deliberate, documented exception: calls on this thread during its lifetime are not
// caught. The reason is required, so that the exception explains itself where it is
// written (why the value cannot reach startup state). Every Env call the membrane
// makes runs inside one of these.
//   snap::AllowNondeterminism allow("log file name only, never stored");
class AllowNondeterminism {
 public:
  // Throws std::invalid_argument if `reason` is empty.
  explicit AllowNondeterminism(std::string_view reason) {
    if (reason.empty()) throw_no_reason();
    ++detail::t_allowed;
  }
  ~AllowNondeterminism() { --detail::t_allowed; }
  AllowNondeterminism(const AllowNondeterminism&) = delete;
  AllowNondeterminism& operator=(const AllowNondeterminism&) = delete;

 private:
  [[noreturn]] static void throw_no_reason();
};

}  // namespace snap
