#include "snap/membrane.h"

#include <charconv>
#include <cstring>
#include <exception>
#include <type_traits>

#include "snap/determinism_guard.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/trace.h"
#include "snap/secrets.h"
#include "snap/env.h"

namespace snap {

// Event kinds of the built-in sources. They are part of the log's meaning: renaming one
// makes older logs diverge.
namespace kind {
constexpr std::string_view kWallClock = "clock.wall";
constexpr std::string_view kSteadyClock = "clock.steady";
constexpr std::string_view kRandomBytes = "random.bytes";
constexpr std::string_view kRandomInt = "random.int";
constexpr std::string_view kUuid = "random.uuid";
constexpr std::string_view kFileRead = "file.read";
constexpr std::string_view kFileExists = "file.exists";
constexpr std::string_view kFileList = "file.list";
constexpr std::string_view kEnv = "env";
constexpr std::string_view kSecret = "secret";
constexpr std::string_view kVersion = "version";
constexpr std::string_view kCallPrefix = "call.";
}  // namespace kind

namespace {

Divergence::Call call_of(const Membrane::Where& w, std::string_view kind, std::string_view key,
                         std::string_view request) {
  return Divergence::Call{std::string(kind), std::string(key), std::string(request), w.file_name(), w.line(),
                          w.function_name()};
}

Divergence::Call call_of(const EventRecord& e) {
  return Divergence::Call{std::string(e.kind),         std::string(e.key),
                          std::string(e.request),      std::string(e.call_site.file),
                          e.call_site.line,            std::string(e.call_site.function)};
}

void check_owner(std::thread::id owner, const Membrane::Where& where, const char* mode) {
  if (std::this_thread::get_id() != owner) {
    throw ThreadRuleError(std::string("snapshot: a ") + mode + " call from another thread at " + where.file_name() +
                          ":" + std::to_string(where.line()) +
                          ": startup is single-threaded, so every input read while recording or replaying must "
                          "come from the thread that started the app");
  }
}

// Short request and kind texts built on the stack: replay builds one per call to compare it
// with the log, so a heap string here is a measurable share of replay time.
class ShortText {
 public:
  ShortText& operator<<(std::string_view s) {
    if (!spilled_ && s.size() <= sizeof buffer_ - size_) {
      std::memcpy(buffer_ + size_, s.data(), s.size());
      size_ += s.size();
    } else {
      if (!spilled_) heap_.assign(buffer_, size_);
      spilled_ = true;
      heap_ += s;
    }
    return *this;
  }
  template <typename Int>
    requires std::is_integral_v<Int>
  ShortText& operator<<(Int n) {
    char digits[24];  // the longest 64-bit integer, INT64_MIN, has 20 characters
    const char* end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    return *this << std::string_view(digits, static_cast<std::size_t>(end - digits));
  }
  std::string_view view() const { return spilled_ ? std::string_view(heap_) : std::string_view(buffer_, size_); }

 private:
  char buffer_[64];
  std::size_t size_ = 0;
  bool spilled_ = false;
  std::string heap_;
};

// The Env's answers are recorded or replayed (live: after startup, or dev mode), so the
// C library calls behind them are no determinism-guard violation.
constexpr std::string_view kExempt = "the membrane's Env: its answer is recorded or replayed";
template <typename F>
auto exempt(F&& f) -> decltype(f()) {
  AllowNondeterminism allow(kExempt);
  return f();
}

// Runs the real step, turning a failure into a recorded failure reply.
template <typename F>
auto failure_as_reply(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const FileError& e) {
    return {ResultKind::kFailure, e.what(), 0};
  }
}

}  // namespace

// ---- sources ----

std::chrono::system_clock::time_point Membrane::wall_now(Where where) {
  if (passthrough_) return exempt([this] { return env_.wall_now(); });
  auto real = [this] {
    return Reply{ResultKind::kInteger, {}, exempt([this] { return env_.wall_now(); }).time_since_epoch().count()};
  };
  const Reply r = exchange(Ask{kind::kWallClock, {}, {}, where}, RealStep(real));
  return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(r.integer));
}

std::chrono::steady_clock::time_point Membrane::steady_now(Where where) {
  if (passthrough_) return exempt([this] { return env_.steady_now(); });
  auto real = [this] {
    return Reply{ResultKind::kInteger, {}, exempt([this] { return env_.steady_now(); }).time_since_epoch().count()};
  };
  const Reply r = exchange(Ask{kind::kSteadyClock, {}, {}, where}, RealStep(real));
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(r.integer));
}

std::string Membrane::random_bytes(std::size_t size, Where where) {
  ShortText request;
  request << size;
  auto real = [&] {
    Reply r{ResultKind::kBytes, std::string(size, '\0'), 0};
    exempt([&] { env_.random_bytes(r.bytes.data(), size); });
    return r;
  };
  return exchange(Ask{kind::kRandomBytes, {}, request.view(), where}, RealStep(real)).bytes;
}

std::int64_t Membrane::random_int(std::int64_t min, std::int64_t max, Where where) {
  if (min > max) throw std::invalid_argument("random_int: min > max");
  ShortText request;
  request << min << ".." << max;
  auto real = [&] {
    // Rejection sampling: uniform without modulo bias.
    const std::uint64_t span = static_cast<std::uint64_t>(max) - static_cast<std::uint64_t>(min);
    std::uint64_t x = 0;
    if (span == UINT64_MAX) {
      exempt([&] { env_.random_bytes(&x, sizeof x); });
    } else {
      const std::uint64_t range = span + 1;
      const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
      do {
        exempt([&] { env_.random_bytes(&x, sizeof x); });
      } while (x >= limit);
      x %= range;
    }
    return Reply{ResultKind::kInteger, {}, static_cast<std::int64_t>(static_cast<std::uint64_t>(min) + x)};
  };
  return exchange(Ask{kind::kRandomInt, {}, request.view(), where}, RealStep(real)).integer;
}

std::string Membrane::uuid(Where where) {
  auto real = [this] {
    unsigned char b[16];
    exempt([&] { env_.random_bytes(b, sizeof b); });
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(36);
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
      s += kHex[b[i] >> 4];
      s += kHex[b[i] & 0xf];
    }
    return Reply{ResultKind::kBytes, std::move(s), 0};
  };
  return exchange(Ask{kind::kUuid, {}, {}, where}, RealStep(real)).bytes;
}

std::string Membrane::read_file(const std::filesystem::path& path, Where where) {
  const std::string_view key = path.native();  // == path.string() on POSIX, without the copy
  auto real = [&] { return failure_as_reply([&] { return Reply{ResultKind::kBytes, exempt([&] { return env_.read_file(path); }), 0}; }); };
  Reply r = exchange(Ask{kind::kFileRead, key, {}, where}, RealStep(real));
  if (r.kind == ResultKind::kFailure) throw FileError(r.bytes);
  return std::move(r.bytes);
}

bool Membrane::file_exists(const std::filesystem::path& path, Where where) {
  const std::string_view key = path.native();  // == path.string() on POSIX, without the copy
  auto real = [&] { return Reply{ResultKind::kInteger, {}, exempt([&] { return env_.file_exists(path); }) ? 1 : 0}; };
  return exchange(Ask{kind::kFileExists, key, {}, where}, RealStep(real)).integer != 0;
}

std::vector<std::string> Membrane::list_directory(const std::filesystem::path& path, Where where) {
  const std::string_view key = path.native();  // == path.string() on POSIX, without the copy
  // Names cannot contain NUL, so NUL-separated is unambiguous.
  auto real = [&] {
    return failure_as_reply([&] {
      std::string joined;
      for (const std::string& name : exempt([&] { return env_.list_directory(path); })) {
        joined += name;
        joined += '\0';
      }
      return Reply{ResultKind::kBytes, std::move(joined), 0};
    });
  };
  const Reply r = exchange(Ask{kind::kFileList, key, {}, where}, RealStep(real));
  if (r.kind == ResultKind::kFailure) throw FileError(r.bytes);
  std::vector<std::string> names;
  std::size_t start = 0;
  for (std::size_t i = 0; i < r.bytes.size(); ++i) {
    if (r.bytes[i] == '\0') {
      names.emplace_back(r.bytes.substr(start, i - start));
      start = i + 1;
    }
  }
  return names;
}

std::optional<std::string> Membrane::env(std::string_view name, Where where) {
  auto real = [&] {
    auto v = exempt([&] { return env_.variable(std::string(name)); });
    return v ? Reply{ResultKind::kBytes, std::move(*v), 0} : Reply{ResultKind::kNone, {}, 0};
  };
  Reply r = exchange(Ask{kind::kEnv, name, {}, where}, RealStep(real));
  if (r.kind == ResultKind::kNone) return std::nullopt;
  return std::move(r.bytes);
}

std::string Membrane::secret(std::string_view name, Where where) {
  auto real = [&] {
    // Recording fails here, at build time, if the build has no such secret.
    if (!exempt([&] { return secrets_.get(name); })) {
      throw SecretUnavailable("secret \"" + std::string(name) + "\" is not available (looked in " +
                              secrets_.describe(name) + ")");
    }
    return Reply{ResultKind::kSecretHandle, std::string(name), 0};
  };
  const Reply r = exchange(Ask{kind::kSecret, name, {}, where}, RealStep(real));
  // The handle must name the secret asked for: a damaged or crafted log must not make
  // secret("db-password") return another secret's value.
  if (r.kind != ResultKind::kSecretHandle || r.bytes != name) {
    throw LogError(LogErrorCode::kCorrupt, "the log's handle for secret \"" + std::string(name) +
                                               "\" is not that secret's handle");
  }
  auto value = exempt([&] { return secrets_.get(r.bytes); });
  if (!value) {
    throw SecretUnavailable("secret \"" + r.bytes + "\" is not available to this persona (looked in " +
                            secrets_.describe(r.bytes) + "); declare that the persona uses it");
  }
  return std::move(*value);
}

std::string Membrane::call_erased(std::string_view kind_name, std::string_view key, std::string_view request,
                                  std::string (*real)(void*, std::string_view), void* real_object,
                                  const Where& where) {
  ShortText full_kind;
  full_kind << kind::kCallPrefix << kind_name;
  auto step = [&] {
    // The real function's own reads are exempt from the determinism guard: its reply is
    // what the log records, and replay returns that reply without calling it.
    AllowNondeterminism allow("m.call: the reply is recorded and replayed");
    // At runtime the I/O is a span of the request it serves ("call KIND"); at startup
    // there is no current span, and so none.
    Span span = start_child_span(full_kind.view(), SpanKind::kClient);
    if (span.recording()) span.set("snap.call.key", key);
    try {
      return Reply{ResultKind::kBytes, real(real_object, request), 0};
    } catch (const std::exception& e) {
      span.set_error(e.what());
      return Reply{ResultKind::kFailure, e.what(), 0};
    }
  };
  Reply r = exchange(Ask{full_kind.view(), key, request, where}, RealStep(step));
  if (r.kind == ResultKind::kFailure) throw CallFailed(r.bytes);
  return std::move(r.bytes);
}

std::string Membrane::operation_erased(std::string_view kind_name, std::string_view key, std::string_view request,
                                       std::string (*real)(void*), void* real_object, const Where& where) {
  auto step = [&] { return Reply{ResultKind::kBytes, real(real_object), 0}; };
  Reply r = exchange(Ask{kind_name, key, request, where}, RealStep(step));
  if (r.kind != ResultKind::kBytes) {
    throw LogError(LogErrorCode::kCorrupt, "the recorded " + std::string(kind_name) + " holds no reply");
  }
  return std::move(r.bytes);
}

int Membrane::version(std::string_view change_id, int min_supported, int max_supported, Where where) {
  if (min_supported > max_supported) throw std::invalid_argument("version: min_supported > max_supported");
  int v = kDefaultVersion;
  if (next_is(kind::kVersion, change_id)) {
    auto real = [&] { return Reply{ResultKind::kInteger, {}, max_supported}; };
    v = static_cast<int>(exchange(Ask{kind::kVersion, change_id, {}, where}, RealStep(real)).integer);
  }
  if (v < min_supported || v > max_supported) {
    const auto* replay = dynamic_cast<const ReplayingMembrane*>(this);
    throw Divergence(Divergence::Reason::kUnsupportedVersion, replay ? replay->position() : 0, std::nullopt,
                     call_of(where, kind::kVersion, change_id, {}), 0,
                     "the log recorded version " + std::to_string(v) + " of \"" + std::string(change_id) +
                         "\"; this program supports " + std::to_string(min_supported) + ".." +
                         std::to_string(max_supported));
  }
  return v;
}

void Membrane::close(std::string reason) {
  closed_ = true;
  passthrough_ = false;  // clocks then go through exchange(), which refuses
  closed_reason_ = std::move(reason);
}

void Membrane::throw_closed(const Where& where) const {
  throw MembraneClosed(std::string("a closed membrane was used at ") + where.file_name() + ":" +
                       std::to_string(where.line()) + " in " + where.function_name() + ": " + closed_reason_);
}

// ---- record ----

RecordingMembrane::RecordingMembrane(Env& env, const SecretSource& secrets, std::unique_ptr<LogWriter> writer)
    : Membrane(env, secrets), writer_(std::move(writer)), owner_(std::this_thread::get_id()) {}

RecordingMembrane::~RecordingMembrane() = default;

Membrane::Reply RecordingMembrane::exchange(const Ask& ask, const RealStep& real) {
  check_open(ask.where);
  check_owner(owner_, ask.where, "recording");
  Reply reply = real();
  EventRecord e;
  e.kind = ask.kind;
  e.key = ask.key;
  e.request = ask.request;
  e.result_kind = reply.kind;
  e.bytes = reply.bytes;
  e.integer = reply.integer;
  e.call_site = CallSite{ask.where.file_name(), ask.where.line(), ask.where.column(), ask.where.function_name()};
  writer_->append(e);
  return reply;
}

void RecordingMembrane::finish(const Manifest& manifest) { writer_->finish(manifest); }
std::uint64_t RecordingMembrane::event_count() const { return writer_->event_count(); }

// ---- replay ----

ReplayingMembrane::ReplayingMembrane(Env& env, const SecretSource& secrets, std::unique_ptr<LogReader> reader)
    : Membrane(env, secrets), reader_(std::move(reader)), owner_(std::this_thread::get_id()) {}

ReplayingMembrane::~ReplayingMembrane() = default;

const EventRecord* ReplayingMembrane::peek() {
  if (!next_loaded_) {
    next_ = reader_->next();
    next_loaded_ = true;
  }
  return next_;
}

bool ReplayingMembrane::next_is(std::string_view kind_name, std::string_view key) {
  const EventRecord* e = peek();
  return e != nullptr && e->kind == kind_name && e->key == key;
}

Membrane::Reply ReplayingMembrane::exchange(const Ask& ask, const RealStep& real) {
  (void)real;  // replay never does the real thing
  check_open(ask.where);
  check_owner(owner_, ask.where, "replaying");
  const EventRecord* e = peek();
  if (e == nullptr) {
    throw Divergence(Divergence::Reason::kLogExhausted, position_, std::nullopt,
                     call_of(ask.where, ask.kind, ask.key, ask.request));
  }
  if (e->kind != ask.kind || e->key != ask.key) {
    throw Divergence(Divergence::Reason::kDifferentCall, position_, call_of(*e),
                     call_of(ask.where, ask.kind, ask.key, ask.request));
  }
  if (e->request != ask.request) {
    throw Divergence(Divergence::Reason::kDifferentRequest, position_, call_of(*e),
                     call_of(ask.where, ask.kind, ask.key, ask.request));
  }
  Reply reply{e->result_kind, std::string(e->bytes), e->integer};
  next_loaded_ = false;
  ++position_;
  return reply;
}

void ReplayingMembrane::finish() {
  reader_->verify_rest();  // a damaged, repeated or spliced tail refuses the whole log
  const std::uint64_t total = reader_->trailer().event_count;
  if (position_ < total) {
    const EventRecord* e = peek();
    throw Divergence(Divergence::Reason::kEventsLeftOver, position_,
                     e != nullptr ? std::optional<Divergence::Call>(call_of(*e)) : std::nullopt, std::nullopt,
                     total - position_);
  }
}

// ---- live ----

Membrane::Reply LiveMembrane::exchange(const Ask& ask, const RealStep& real) {
  check_open(ask.where);
  return real();
}

}  // namespace snap
