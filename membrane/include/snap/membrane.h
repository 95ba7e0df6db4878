// The membrane: every nondeterministic input a program reads at startup passes here.
//
//   RecordingMembrane  does the real thing and appends an event to a snapshot log (build)
//   ReplayingMembrane  returns the next recorded event instead; no real I/O (runtime startup)
//   LiveMembrane       passes straight through to the Env (after startup, dev mode)
//
// There is no global mode: a program holds the membrane it was given, and several may
// live in one process (a test can record one app while replaying another). What a
// membrane does is its type, not a flag: the one mode enum is the process's (snap::Mode,
// snap/app.h), from which the lifecycle picks the type.
//
// On replay each call must match the next event's kind, key and request, else
// `Divergence` names the event index, what the log expected and what the program asked
// for, with both call sites. Call sites are reported, never compared. Replay never falls
// back to live values.
//
// Thread safety: recording and replaying membranes belong to the thread that made them
// (startup is single-threaded; a call from another thread throws ThreadRuleError). A
// LiveMembrane may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "snap/error.h"

#include "snap/divergence.h"
#include "snap/log.h"

namespace snap {

class Env;
class SecretSource;
class LogReader;
class LogWriter;

// A user-defined call's real function threw at record time (or now, in live mode). The
// message is the original exception's what(); replay throws the same. Code unknown (the
// original's type is not recorded), detail "membrane.call_failed".
class CallFailed : public Error {
 public:
  explicit CallFailed(const std::string& message) : Error(ErrorCode::kUnknown, "membrane.call_failed", message) {}
};

// A record/replay call came from a thread other than the one that owns the membrane. A bug
// in the program: code internal, detail "membrane.thread_rule".
class ThreadRuleError : public Error {
 public:
  explicit ThreadRuleError(const std::string& message)
      : Error(ErrorCode::kInternal, "membrane.thread_rule", message) {}
};

// A membrane was used after it was closed: a persona body kept the startup membrane
// instead of reading live inputs through its context. Names the call site. A bug in the
// program: code internal, detail "membrane.closed".
class MembraneClosed : public Error {
 public:
  explicit MembraneClosed(const std::string& message) : Error(ErrorCode::kInternal, "membrane.closed", message) {}
};

// A secret has no value: the running persona has none for a secret the program asks for,
// or a build was given none (or an empty one) for a declared snap::Secret. Code not_found,
// detail "membrane.secret_unavailable".
class SecretUnavailable : public Error {
 public:
  explicit SecretUnavailable(const std::string& message)
      : Error(ErrorCode::kNotFound, "membrane.secret_unavailable", message) {}
};

class Membrane {
 public:
  using Where = std::source_location;
  // What version() returns when replaying a log recorded before the change existed.
  static constexpr int kDefaultVersion = -1;

  virtual ~Membrane() = default;

  std::chrono::system_clock::time_point wall_now(Where where = Where::current());
  std::chrono::steady_clock::time_point steady_now(Where where = Where::current());

  std::string random_bytes(std::size_t size, Where where = Where::current());
  // Uniform in [min, max], both inclusive.
  std::int64_t random_int(std::int64_t min, std::int64_t max, Where where = Where::current());
  // A random (version 4) UUID in canonical text form.
  std::string uuid(Where where = Where::current());

  // Throws FileError (recorded and replayed like a value).
  std::string read_file(const std::filesystem::path& path, Where where = Where::current());
  bool file_exists(const std::filesystem::path& path, Where where = Where::current());
  std::vector<std::string> list_directory(const std::filesystem::path& path, Where where = Where::current());

  std::optional<std::string> env(std::string_view name, Where where = Where::current());

  // The value of a secret. The log records only its name; each side resolves the value
  // from its own SecretSource. Throws SecretUnavailable.
  std::string secret(std::string_view name, Where where = Where::current());

  // User-defined I/O. `request` is recorded and must be identical on replay; `real` is
  // called only when recording or live, and its reply is what replay returns. A throw
  // from `real` becomes CallFailed, in every mode alike.
  template <typename Real>
  std::string call(std::string_view kind, std::string_view key, std::string_view request, Real&& real,
                   Where where = Where::current());

  // call() for JSON-convertible types: the request is serialized, the reply converted
  // with boost::json::value_to<Reply>.
  template <typename Reply, typename Request, typename Real>
  Reply call_json(std::string_view kind, std::string_view key, const Request& request, Real&& real,
                  Where where = Where::current());

  // The runtime's own recorded operations (a store's get, an endpoint call, an
  // authentication's outcome: snap/episode.h), where the caller encodes the outcome,
  // failures included, in the reply bytes: `real` runs when recording or live, and replay
  // returns the recorded bytes. Unlike call(): no "call." prefix on the kind, no span (the
  // operation has its own), and an exception from `real` passes through unrecorded.
  template <typename Real>
  std::string operation(std::string_view kind, std::string_view key, std::string_view request, Real&& real,
                        Where where = Where::current());

  // Lets a program change while older logs still replay (like Temporal's GetVersion).
  // Recording stores `max_supported`; replay returns what was recorded, or
  // kDefaultVersion for a log made before this change. Outside [min_supported,
  // max_supported] is a Divergence (kUnsupportedVersion).
  //   if (m.version("cache-warmup", Membrane::kDefaultVersion, 1) == 1) warm_cache();
  int version(std::string_view change_id, int min_supported, int max_supported, Where where = Where::current());

  // Closes the membrane: every later call throws MembraneClosed with its call site and
  // `reason`. The lifecycle closes the startup membrane when startup ends, in every mode,
  // so a body that kept it fails at once instead of diverging only when deployed.
  void close(std::string reason);
  bool closed() const { return closed_; }

 protected:
  struct Ask {
    std::string_view kind;
    std::string_view key;
    std::string_view request;
    const Where& where;
  };
  struct Reply {
    ResultKind kind = ResultKind::kNone;
    std::string bytes;
    std::int64_t integer = 0;
  };
  // A non-owning reference to the "do it for real" step, so each mode decides whether to run it.
  class RealStep {
   public:
    template <typename F>
    explicit RealStep(F& f) : object_(&f), call_([](void* o) { return (*static_cast<F*>(o))(); }) {}
    Reply operator()() const { return call_(object_); }

   private:
    void* object_;
    Reply (*call_)(void*);
  };

  explicit Membrane(Env& env, const SecretSource& secrets) : env_(env), secrets_(secrets) {}

  // The one point where modes differ.
  virtual Reply exchange(const Ask& ask, const RealStep& real) = 0;
  // Replay answers whether the next event is (kind, key) without taking it; the other
  // modes always say yes. Used by version().
  virtual bool next_is(std::string_view kind, std::string_view key) { (void)kind, (void)key; return true; }

  Env& env_;
  const SecretSource& secrets_;
  // Set by LiveMembrane: the hottest sources (clocks) skip exchange() entirely, so a live
  // read costs one predictable branch over the raw system call.
  bool passthrough_ = false;

  // Every mode's exchange() starts here.
  void check_open(const Where& where) const {
    if (closed_) throw_closed(where);
  }

 private:
  [[noreturn]] void throw_closed(const Where& where) const;
  bool closed_ = false;
  std::string closed_reason_;

  std::string call_erased(std::string_view kind, std::string_view key, std::string_view request,
                          std::string (*real)(void*, std::string_view), void* real_object, const Where& where);
  std::string operation_erased(std::string_view kind, std::string_view key, std::string_view request,
                               std::string (*real)(void*), void* real_object, const Where& where);
};

// Records at build time: every call does the real thing and appends an event.
class RecordingMembrane final : public Membrane {
 public:
  // `env` and `secrets` must outlive the membrane; it owns `writer`.
  RecordingMembrane(Env& env, const SecretSource& secrets, std::unique_ptr<LogWriter> writer);
  ~RecordingMembrane() override;

  // Writes the manifest and trailer and publishes the log under its final name.
  void finish(const Manifest& manifest);
  std::uint64_t event_count() const;

 protected:
  Reply exchange(const Ask& ask, const RealStep& real) override;

 private:
  std::unique_ptr<LogWriter> writer_;
  std::thread::id owner_;
};

// Replays a log at runtime startup: every call returns the next recorded event.
class ReplayingMembrane final : public Membrane {
 public:
  // `env` is never called for recorded inputs; it and `secrets` must outlive the
  // membrane. Owns `reader`.
  ReplayingMembrane(Env& env, const SecretSource& secrets, std::unique_ptr<LogReader> reader);
  ~ReplayingMembrane() override;

  // Ends replay: a Divergence (kEventsLeftOver) if the program read fewer events than
  // the log holds.
  void finish();
  std::uint64_t position() const { return position_; }
  const LogReader& log() const { return *reader_; }

 protected:
  Reply exchange(const Ask& ask, const RealStep& real) override;
  bool next_is(std::string_view kind, std::string_view key) override;

 private:
  const EventRecord* peek();

  std::unique_ptr<LogReader> reader_;
  const EventRecord* next_ = nullptr;
  bool next_loaded_ = false;
  std::uint64_t position_ = 0;
  std::thread::id owner_;
};

// Passes every call straight to the Env: after startup and in dev mode.
class LiveMembrane final : public Membrane {
 public:
  LiveMembrane(Env& env, const SecretSource& secrets) : Membrane(env, secrets) { passthrough_ = true; }

 protected:
  Reply exchange(const Ask& ask, const RealStep& real) override;
};

// ---- templates ----

template <typename Real>
std::string Membrane::call(std::string_view kind, std::string_view key, std::string_view request, Real&& real,
                           Where where) {
  using F = std::remove_reference_t<Real>;
  return call_erased(
      kind, key, request,
      [](void* o, std::string_view req) -> std::string { return std::string((*static_cast<F*>(o))(req)); },
      const_cast<void*>(static_cast<const void*>(std::addressof(real))), where);
}

template <typename Real>
std::string Membrane::operation(std::string_view kind, std::string_view key, std::string_view request, Real&& real,
                                Where where) {
  using F = std::remove_reference_t<Real>;
  return operation_erased(
      kind, key, request, [](void* o) -> std::string { return std::string((*static_cast<F*>(o))()); },
      const_cast<void*>(static_cast<const void*>(std::addressof(real))), where);
}

template <typename Reply, typename Request, typename Real>
Reply Membrane::call_json(std::string_view kind, std::string_view key, const Request& request, Real&& real,
                          Where where) {
  const std::string request_text = boost::json::serialize(boost::json::value_from(request));
  auto raw = [&](std::string_view) -> std::string {
    return boost::json::serialize(boost::json::value_from(real(request)));
  };
  const std::string reply = call(kind, key, request_text, raw, where);
  return boost::json::value_to<Reply>(boost::json::parse(reply));
}

}  // namespace snap
